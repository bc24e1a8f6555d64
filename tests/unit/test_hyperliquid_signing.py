"""Hyperliquid L1 signing against the SDK's own vectors (hyperliquid-python-sdk
0.24.0 output), plus the byte-level rules the venue's re-serialisation enforces."""

from __future__ import annotations

import subprocess
import sys

import msgpack
import pytest

from deadman.venues.hyperliquid.signing import (
    action_hash,
    action_preimage,
    address_of,
    l1_typed_data,
    sign_l1_action,
)

KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
ADDRESS = "0x14791697260E4c9A71f18484C9f997B308e59325"
VAULT = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"

CLEAR = {"type": "scheduleCancel"}
SET_123 = {"type": "scheduleCancel", "time": 123456789}
SET_MS = {"type": "scheduleCancel", "time": 1700000000000}
SET_VAULT = {"type": "scheduleCancel", "time": 1700000060000}


def test_address_of_key_is_lowercase() -> None:
    assert address_of(KEY) == ADDRESS.lower()


# -- the SDK's vector: nonce 0, no vault, no expiresAfter ------------------------------------------------


@pytest.mark.parametrize(
    ("action", "packed"),
    [
        (CLEAR, "81a474797065ae7363686564756c6543616e63656c"),
        (SET_123, "82a474797065ae7363686564756c6543616e63656ca474696d65ce075bcd15"),  # uint32 ce
        (SET_MS, "82a474797065ae7363686564756c6543616e63656ca474696d65cf0000018bcfe56800"),  # uint64 cf
    ],
)
def test_msgpack_bytes(action, packed) -> None:
    assert msgpack.packb(action).hex() == packed
    assert action_preimage(action, None, 0, None).hex() == packed + "0000000000000000" + "00"


@pytest.mark.parametrize(
    ("action", "nonce", "connection_id"),
    [
        (CLEAR, 0, "a2887a3147b6542306b61d311a056fd1753913d63cc904f30cba61712a98f4ae"),
        (SET_123, 0, "4be18e445114437c5d1d9dd35a09f5601a3cc34ed4ac94a0281251b9bd8f6832"),
        (SET_MS, 1700000000000, "376f6bf2c7eeb0e505a5bd97a86a9eee67e3602331b8fec5ec16468866210b19"),
    ],
)
def test_connection_id(action, nonce, connection_id) -> None:
    assert action_hash(action, None, nonce, None).hex() == connection_id


SIGNATURES = [
    # (action, nonce, mainnet, r, s, v)
    (
        CLEAR,
        0,
        True,
        "0x6cdfb286702f5917e76cd9b3b8bf678fcc49aec194c02a73e6d4f16891195df9",
        "0x6557ac307fa05d25b8d61f21fb8a938e703b3d9bf575f6717ba21ec61261b2a0",
        27,
    ),
    (
        CLEAR,
        0,
        False,
        "0xc75bb195c3f6a4e06b7d395acc20bbb224f6d23ccff7c6a26d327304e6efaeed",
        "0x342f8ede109a29f2c0723bd5efb9e9100e3bbb493f8fb5164ee3d385908233df",
        28,
    ),
    (
        SET_123,
        0,
        True,
        "0x609cb20c737945d070716dcc696ba030e9976fcf5edad87afa7d877493109d55",
        "0x16c685d63b5c7a04512d73f183b3d7a00da5406ff1f8aad33f8ae2163bab758b",
        28,
    ),
    (
        SET_123,
        0,
        False,
        "0x4e4f2dbd4107c69783e251b7e1057d9f2b9d11cee213441ccfa2be63516dc5bc",
        "0x706c656b23428c8ba356d68db207e11139ede1670481a9e01ae2dfcdb0e1a678",
        27,
    ),
    # produced by hyperliquid-python-sdk 0.24.0 `sign_l1_action` and by plain code, in agreement
    (
        SET_MS,
        1700000000000,
        True,
        "0xb1e35e1c613b776f919c1e41e3255df566eab79162998987db015084dbb26c19",
        "0x5dbf69df7ddd5887f8314dc4ccf20fb9dbb09f10f8bf7bbfd4a3d1eea539e148",
        27,
    ),
    (
        SET_MS,
        1700000000000,
        False,
        "0xbf7a0b8ee0c8a757fab50cd742596977d46b57e6f3130346980c2a1438449d1b",
        "0x6814b09accaa4653778fb034c6c810b1ef4d50505c71c6846c4f0185f4e03bb1",
        27,
    ),
]


@pytest.mark.parametrize("vector", SIGNATURES)
def test_signature_vectors(vector) -> None:
    action, nonce, mainnet, r, s, v = vector
    assert sign_l1_action(KEY, action, None, nonce, None, mainnet) == {"r": r, "s": s, "v": v}


# -- the hash layout with a vault and expiresAfter -------------------------------------------------


def test_vault_and_expires_after_preimage_layout() -> None:
    preimage = action_preimage(SET_VAULT, VAULT, 1700000000000, 1700000030000).hex()
    assert preimage == (
        "82a474797065ae7363686564756c6543616e63656ca474696d65cf0000018bcfe65260"
        + "0000018bcfe56800"  # nonce, u64 BE
        + "01"  # a vault follows
        + "1719884eb866cb12b2287399b15f7db5e7d775ea"
        + "00"  # expiresAfter marker
        + "0000018bcfe5dd30"  # expiresAfter, u64 BE
    )
    assert (
        action_hash(SET_VAULT, VAULT, 1700000000000, 1700000030000).hex()
        == "54fda0b4fb4643e66568d28189aaffe2b57d068f0ef0a26b2f11fabd367d387f"
    )


def test_vault_and_expires_after_signature() -> None:
    assert sign_l1_action(KEY, SET_VAULT, VAULT, 1700000000000, 1700000030000, True) == {
        "r": "0x3ccd751f99f0d757818c623a168fa49f1ce46232def5d5692bf73824e37802e0",
        "s": "0x5305c3c23a9d09734524bd39ced401b7f37722f9b94c6f6b1ec45e3a2830e1e4",
        "v": 28,
    }


def test_vault_address_case_does_not_change_bytes() -> None:
    upper = "0x" + VAULT[2:].upper()
    assert action_preimage(SET_VAULT, upper, 1, None) == action_preimage(SET_VAULT, VAULT, 1, None)


# -- byte rules ---------------------------------------------------------------------------------------


def test_disarm_omits_time_and_null_is_different_bytes() -> None:
    with_null = {"type": "scheduleCancel", "time": None}
    assert msgpack.packb(with_null).hex() == "82a474797065ae7363686564756c6543616e63656ca474696d65c0"
    assert action_preimage(CLEAR, None, 5, None) != action_preimage(with_null, None, 5, None)
    assert action_hash(CLEAR, None, 5, None) != action_hash(with_null, None, 5, None)


def test_key_order_is_signed() -> None:
    reordered = {"time": 123456789, "type": "scheduleCancel"}
    assert action_hash(reordered, None, 0, None) != action_hash(SET_123, None, 0, None)


def test_expires_after_and_vault_change_the_hash() -> None:
    base = action_hash(SET_MS, None, 1, None)
    assert action_hash(SET_MS, None, 1, 2) != base
    assert action_hash(SET_MS, VAULT, 1, None) != base
    assert action_hash(SET_MS, None, 2, None) != base


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match=r"action\.time"):
        action_hash({"type": "scheduleCancel", "time": 1.7e12}, None, 0, None)
    with pytest.raises(TypeError, match=r"cancels\[0\]\.o"):
        action_hash({"type": "cancel", "cancels": [{"a": 0, "o": 1.0}]}, None, 0, None)


def test_nonce_and_expiry_must_be_u64() -> None:
    with pytest.raises(ValueError, match="nonce"):
        action_preimage(CLEAR, None, -1, None)
    with pytest.raises(ValueError, match="expires_after"):
        action_preimage(CLEAR, None, 0, 2**64)


def test_typed_data_source_and_chain() -> None:
    main, test = l1_typed_data(b"\x00" * 32, True), l1_typed_data(b"\x00" * 32, False)
    assert main["message"]["source"] == "a" and test["message"]["source"] == "b"
    assert main["domain"]["chainId"] == test["domain"]["chainId"] == 1337
    assert main["domain"]["name"] == "Exchange" and main["primaryType"] == "Agent"


def test_r_and_s_are_unpadded_hex_like_the_sdk() -> None:
    # RFC 6979 is deterministic: find a nonce whose r or s has a leading zero nibble.
    for nonce in range(400):
        sig = sign_l1_action(KEY, CLEAR, None, nonce, None, True)
        for part in ("r", "s"):
            assert sig[part] == hex(int(sig[part], 16))
        if len(sig["r"]) < 66 or len(sig["s"]) < 66:
            return
    pytest.fail("no short r/s found in 400 nonces")  # p(miss) ~ (7/8)^400


# -- import cost --------------------------------------------------------------------------------------

_PROBE = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
print(",".join(sorted(m for m in ("eth_account", "eth_keys", "eth_hash") if m in sys.modules)))
"""


def _loaded_after(*modules: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.strip()


def test_importing_the_adapter_does_not_load_eth_account() -> None:
    assert _loaded_after("deadman.venues.hyperliquid", "deadman.venues.hyperliquid.signing") == ""


def test_other_venue_modules_do_not_load_eth_account() -> None:
    # Modules another venue's refresher imports (kraken/gemini are skipped where not written yet).
    loaded = _loaded_after(
        "deadman.venues",
        "deadman.core.venue",
        "deadman.venues.http",
        "deadman.venues.kraken",
        "deadman.venues.gemini",
    )
    assert "eth_account" not in loaded.split(",")


def test_signing_loads_the_curve_only_when_used_and_never_eth_account() -> None:
    probe = (
        "import sys\n"
        "from deadman.venues.hyperliquid import signing as s\n"
        "assert 'eth_account' not in sys.modules\n"
        "s.action_hash({'type': 'scheduleCancel'}, None, 0, None)\n"
        "assert 'eth_account' not in sys.modules\n"
        f"s.sign_l1_action({KEY!r}, {{'type': 'scheduleCancel'}}, None, 0, None, True)\n"
        "assert 'coincurve' in sys.modules and 'eth_account' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)
