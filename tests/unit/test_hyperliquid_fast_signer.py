"""The coincurve + keccak signer against independent implementations (eth_account's EIP-712 encoder,
eth_keys' pure-Python ECDSA, pycryptodome's keccak), plus what a refresher loads and when.

Speed is never asserted here (`make bench` prints it); only bytes and module loading."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadman.venues.hyperliquid import signing
from deadman.venues.hyperliquid.signing import (
    Signer,
    action_hash,
    address_of,
    keccak256,
    l1_digest,
    l1_typed_data,
    sign_l1_action,
    signer,
)

KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
VAULT = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
CANCEL = {
    "type": "cancel",
    "cancels": [{"a": 0, "o": 91490942}, {"a": 10001, "o": 91490943}, {"a": 110003, "o": 2**40}],
}


def _reference_keccak(data: bytes) -> bytes:
    from eth_hash.backends.pycryptodome import keccak256 as pycryptodome_keccak

    return bytes(pycryptodome_keccak(data))


def _reference_digest(connection_id: bytes, is_mainnet: bool) -> bytes:
    from eth_account.messages import _hash_eip191_message, encode_typed_data

    return bytes(
        _hash_eip191_message(encode_typed_data(full_message=l1_typed_data(connection_id, is_mainnet)))
    )


def _reference_sign(private_key: bytes, digest: bytes) -> dict[str, object]:
    from eth_keys import KeyAPI
    from eth_keys.backends import NativeECCBackend

    signature = KeyAPI(NativeECCBackend).PrivateKey(private_key).sign_msg_hash(digest)
    return {"r": hex(signature.r), "s": hex(signature.s), "v": signature.v + 27}


def _reference_address(private_key: bytes) -> str:
    from eth_keys import KeyAPI
    from eth_keys.backends import NativeECCBackend

    return str(KeyAPI(NativeECCBackend).PrivateKey(private_key).public_key.to_address()).lower()


# -- fixed vectors (eth_account 0.13.7 with eth_keys' native backend, independent of coincurve) -------


def test_keccak_known_answers() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    # Not SHA3-256 (same permutation, other padding): a hashlib slip would change every signature.
    import hashlib

    assert keccak256(b"abc") != hashlib.sha3_256(b"abc").digest()


def test_cancel_vector_with_expiry() -> None:
    assert (
        action_hash(CANCEL, None, 1700000000000, 1700000030000).hex()
        == "4a42cfbee00f64c440e631cdc9dd144c0017783318b8afb79535482e994bf098"
    )
    assert sign_l1_action(KEY, CANCEL, None, 1700000000000, 1700000030000, True) == {
        "r": "0x4208d205bb44f7783ee3e530fba7b2c797ce7e69649dce020c2c35941b3655a2",
        "s": "0x521f2d89b4904c33c32b81f9b6fee09879f8cc4b46a5e2790a791da0e2292c41",
        "v": 27,
    }


def test_cancel_vector_vault_testnet() -> None:
    assert sign_l1_action(KEY, CANCEL, VAULT, 1700000000000, 1700000030000, False) == {
        "r": "0xfcdf0c9414878436ba5ef91d0d0e3c8103a085751181cc13be93af6d3be229ef",
        "s": "0x3a22399287811fe102262866a94394bead35ab3ae0673966c1cc726adbb3518a",
        "v": 27,
    }


def test_address_vector() -> None:
    assert address_of("0x" + "a6" * 32) == "0xbb50b6623454712be08befecb0b78b9ec7d16086"


# -- cross-checks against independent implementations -----------------------------------------------

keys = st.integers(min_value=1, max_value=SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
u64 = st.integers(min_value=0, max_value=2**64 - 1)
actions = st.one_of(
    st.just({"type": "scheduleCancel"}),
    st.builds(lambda t: {"type": "scheduleCancel", "time": t}, u64),
    st.builds(
        lambda pairs: {"type": "cancel", "cancels": [{"a": a, "o": o} for a, o in pairs]},
        st.lists(st.tuples(st.integers(0, 200_000), u64), min_size=1, max_size=30),
    ),
)
vaults = st.one_of(st.none(), st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_keccak_matches_pycryptodome(data: bytes) -> None:
    assert keccak256(data) == _reference_keccak(data)


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.booleans())
def test_digest_matches_eth_account_eip712(connection_id: bytes, is_mainnet: bool) -> None:
    assert l1_digest(connection_id, is_mainnet) == _reference_digest(connection_id, is_mainnet)


@settings(max_examples=60, deadline=None)
@given(keys, actions, vaults, u64, st.one_of(st.none(), u64), st.booleans())
def test_signature_matches_eth_keys(key, action, vault, nonce, expires_after, is_mainnet) -> None:
    connection_id = _reference_keccak(signing.action_preimage(action, vault, nonce, expires_after))
    digest = _reference_digest(connection_id, is_mainnet)
    expected = _reference_sign(key, digest)
    assert sign_l1_action("0x" + key.hex(), action, vault, nonce, expires_after, is_mainnet) == expected
    assert Signer(key).sign_l1_action(action, vault, nonce, expires_after, is_mainnet) == expected


@settings(max_examples=60, deadline=None)
@given(keys)
def test_address_matches_eth_keys(key: bytes) -> None:
    assert address_of("0x" + key.hex()) == _reference_address(key)
    assert Signer(key.hex().upper()).address == _reference_address(key)  # no 0x, upper case


def test_extreme_keys() -> None:
    for k in (1, 2, SECP256K1_N - 1):
        key = k.to_bytes(32, "big")
        assert address_of("0x" + key.hex()) == _reference_address(key)
        digest = keccak256(b"x")
        assert Signer(key).sign_digest(digest) == _reference_sign(key, digest)


# -- the key object --------------------------------------------------------------------------------------


def test_key_is_parsed_once_and_never_shown() -> None:
    first = signer(KEY)
    assert signer(KEY) is first
    assert KEY[2:] not in repr(first) and KEY[2:] not in str(first)
    assert repr(first) == f"Signer(address={address_of(KEY)})"


@pytest.mark.parametrize(
    "bad",
    ["0x" + "00" * 32, "0x" + SECP256K1_N.to_bytes(32, "big").hex(), "0x" + "ff" * 32, "0x1234", "0xzz" * 16],
)
def test_bad_keys_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        address_of(bad)
    with pytest.raises(ValueError):
        sign_l1_action(bad, {"type": "scheduleCancel"}, None, 0, None, True)


def test_digest_needs_32_bytes() -> None:
    with pytest.raises(ValueError):
        l1_digest(b"\x00" * 31, True)


# -- what loads, and when -----------------------------------------------------------------------------

_SIGNER_MODULES = ("coincurve", "sha3", "_pysha3", "eth_account", "eth_keys", "eth_hash", "Crypto")

_PROBE = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(",".join(sorted(m for m in {mods!r} if m in sys.modules)))
"""


def _loaded_after(*modules: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(mods=_SIGNER_MODULES), *modules],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [m for m in out.stdout.strip().split(",") if m]


def test_kraken_and_gemini_refreshers_load_no_signer() -> None:
    loaded = _loaded_after(
        "deadman.app.refresh",
        "deadman.edges.entry",
        "deadman.edges.observability",
        "deadman.stores.credentials",
        "deadman.venues.kraken",
        "deadman.venues.gemini",
    )
    assert loaded == []


def test_importing_the_hyperliquid_adapter_loads_no_crypto() -> None:
    assert _loaded_after("deadman.venues.hyperliquid", "deadman.venues.hyperliquid.signing") == []


def test_signing_loads_coincurve_and_keccak_only_never_eth_account() -> None:
    probe = (
        "import sys\n"
        "from deadman.venues.hyperliquid import signing as s\n"
        "assert 'coincurve' not in sys.modules and 'sha3' not in sys.modules\n"
        f"s.sign_l1_action({KEY!r}, {{'type': 'scheduleCancel'}}, None, 0, None, True)\n"
        "assert 'coincurve' in sys.modules and 'sha3' in sys.modules\n"
        f"heavy = [m for m in ('eth_account', 'eth_keys', 'eth_hash', 'eth_utils', 'Crypto', 'cffi') "
        "if m in sys.modules]\n"
        "assert heavy == [], heavy\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)
