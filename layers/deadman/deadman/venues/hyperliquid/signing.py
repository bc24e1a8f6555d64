"""Hyperliquid L1 action signing, byte for byte as hyperliquid-python-sdk `utils/signing.py` does it.

An L1 action (scheduleCancel, cancel, order) is signed in two steps:
1. `action_hash`: keccak256 of msgpack(action) ‖ nonce (u64 BE) ‖ vault flag [‖ 0x00 ‖ expiresAfter
   (u64 BE)]. The venue re-serialises the action it received with rmp-serde and compares, so map key
   order, integer widths and the absence of a key (never a null) all change the hash.
2. That hash, as `connectionId`, goes into a "phantom agent" EIP-712 message that the key signs.

A wrong byte anywhere does not fail loudly: the venue recovers a different address and answers
"User or API Wallet 0x... does not exist." So this module is kept short and checked against the
SDK's vectors (in the tests) and, in the tests, against eth_account.

The primitives are two small compiled wheels instead of eth_account (~330 ms to import):
- secp256k1 from `coincurve` (libsecp256k1, its own cffi backend; ~25 ms to import): RFC 6979
  deterministic nonces and low-s signatures, the same bytes eth_keys produces;
- keccak256 from `safe-pysha3` (`sha3`, one C extension; ~1 ms once hashlib is loaded).
The EIP-712 digest of the one message type signed here is computed directly: the domain separator
and the type hash are constants, so a signature costs three keccaks and one ECDSA sign.

Both load on the first signature (or address) only: importing this module costs msgpack alone, so
the Kraken and Gemini refreshers, which never import it, and a Hyperliquid one that has not signed
yet load neither. A key is parsed once per process (`signer`), never per signature.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import msgpack

if TYPE_CHECKING:
    from coincurve import PrivateKey

_ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
_DOMAIN_NAME = "Exchange"
_DOMAIN_VERSION = "1"
_CHAIN_ID = 1337  # 1337 on mainnet and testnet alike; only the agent's `source` differs
_EIP712_DOMAIN = {
    "chainId": _CHAIN_ID,
    "name": _DOMAIN_NAME,
    "verifyingContract": _ZERO_ADDRESS,
    "version": _DOMAIN_VERSION,
}
_EIP712_TYPES = {
    "Agent": [
        {"name": "source", "type": "string"},
        {"name": "connectionId", "type": "bytes32"},
    ],
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
}
# EIP-712 encodeType of the two structs above (fields in declaration order, no referenced types).
_DOMAIN_TYPE = b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
_AGENT_TYPE = b"Agent(string source,bytes32 connectionId)"
_U64_MAX = 2**64 - 1


def _reject_floats(value: Any, path: str = "action") -> None:
    # msgpack would write a float64, which the venue's own re-serialisation never produces:
    # the signature would recover a stranger's address. Prices and sizes travel as strings.
    if isinstance(value, float):
        raise TypeError(f"{path} is a float; Hyperliquid actions carry numbers as ints or strings")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _reject_floats(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _reject_floats(item, f"{path}[{i}]")


def _u64(value: int, name: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U64_MAX:
        raise ValueError(f"{name} must be an unsigned 64-bit int")
    return value.to_bytes(8, "big")


def _address_bytes(address: str) -> bytes:
    raw = address[2:] if address[:2] in ("0x", "0X") else address
    data = bytes.fromhex(raw)
    if len(data) != 20:
        raise ValueError("an address is 20 bytes")
    return data


# -- keccak256 and the EIP-712 constants (loaded on first use) ----------------------------------------


@lru_cache(maxsize=1)
def _keccak_fn() -> Callable[[bytes], bytes]:
    from sha3 import keccak_256  # safe-pysha3: Keccak-256 with the original padding, not SHA3-256

    def keccak(data: bytes) -> bytes:
        digest: bytes = keccak_256(data).digest()
        return digest

    return keccak


def keccak256(data: bytes) -> bytes:
    """Ethereum's keccak256 (Keccak-256 with 0x01 padding; hashlib's sha3_256 is a different hash)."""
    return _keccak_fn()(data)


@lru_cache(maxsize=1)
def _eip712_constants() -> tuple[bytes, bytes, dict[bool, bytes]]:
    """(domain separator, Agent type hash, {is_mainnet: keccak(source)})."""
    k = _keccak_fn()
    separator = k(
        k(_DOMAIN_TYPE)
        + k(_DOMAIN_NAME.encode())
        + k(_DOMAIN_VERSION.encode())
        + _CHAIN_ID.to_bytes(32, "big")  # uint256
        + bytes(12)  # an address is left-padded to 32 bytes
        + _address_bytes(_ZERO_ADDRESS)
    )
    return separator, k(_AGENT_TYPE), {True: k(b"a"), False: k(b"b")}


# -- the hashes -----------------------------------------------------------------------------------------


def action_preimage(
    action: Mapping[str, Any], vault_address: str | None, nonce: int, expires_after: int | None
) -> bytes:
    """The bytes `action_hash` hashes (exposed for layout tests)."""
    _reject_floats(action)
    data: bytes = msgpack.packb(action)  # insertion key order, minimal-width ints
    data += _u64(nonce, "nonce")
    data += b"\x00" if vault_address is None else b"\x01" + _address_bytes(vault_address)
    if expires_after is not None:
        data += b"\x00" + _u64(expires_after, "expires_after")
    return data


def action_hash(
    action: Mapping[str, Any], vault_address: str | None, nonce: int, expires_after: int | None
) -> bytes:
    return keccak256(action_preimage(action, vault_address, nonce, expires_after))


def l1_typed_data(connection_id: bytes, is_mainnet: bool) -> dict[str, Any]:
    """The EIP-712 message for a phantom agent: `source` "a" on mainnet, "b" on testnet.

    Kept as the reference description of what `l1_digest` hashes (tests feed it to eth_account)."""
    return {
        "domain": dict(_EIP712_DOMAIN),
        "types": {name: list(fields) for name, fields in _EIP712_TYPES.items()},
        "primaryType": "Agent",
        "message": {"source": "a" if is_mainnet else "b", "connectionId": connection_id},
    }


def l1_digest(connection_id: bytes, is_mainnet: bool) -> bytes:
    """The 32 bytes the key signs: keccak(0x19 0x01 ‖ domainSeparator ‖ hashStruct(Agent))."""
    if len(connection_id) != 32:
        raise ValueError("connectionId is 32 bytes")
    separator, agent_type_hash, source_hash = _eip712_constants()
    k = _keccak_fn()
    struct_hash = k(agent_type_hash + source_hash[bool(is_mainnet)] + bytes(connection_id))
    return k(b"\x19\x01" + separator + struct_hash)


# -- the key ---------------------------------------------------------------------------------------------


class Signer:
    """One parsed secp256k1 key: signs L1 actions; its address is computed once.

    `repr` never shows the key."""

    __slots__ = ("_key", "address")

    def __init__(self, private_key: str | bytes) -> None:
        from coincurve import PrivateKey

        if isinstance(private_key, str):
            raw = private_key[2:] if private_key[:2] in ("0x", "0X") else private_key
            secret = bytes.fromhex(raw)
        else:
            secret = bytes(private_key)
        if len(secret) != 32:
            raise ValueError("a private key is 32 bytes")
        self._key: PrivateKey = PrivateKey(secret)  # ValueError if 0 or >= the curve order
        public = self._key.public_key.format(compressed=False)  # 0x04 ‖ x ‖ y
        self.address: str = "0x" + keccak256(public[1:])[-20:].hex()  # lowercase

    def __repr__(self) -> str:
        return f"Signer(address={self.address})"

    def sign_digest(self, digest: bytes) -> dict[str, Any]:
        """`{"r", "s", "v"}` over a 32-byte digest: RFC 6979 nonce, low s, v = 27 + recovery id."""
        signature = self._key.sign_recoverable(digest, hasher=None)  # r ‖ s ‖ recid
        return {
            "r": hex(int.from_bytes(signature[:32], "big")),
            "s": hex(int.from_bytes(signature[32:64], "big")),
            "v": 27 + signature[64],
        }

    def sign_l1_action(
        self,
        action: Mapping[str, Any],
        vault_address: str | None,
        nonce: int,
        expires_after: int | None,
        is_mainnet: bool,
    ) -> dict[str, Any]:
        connection_id = action_hash(action, vault_address, nonce, expires_after)
        return self.sign_digest(l1_digest(connection_id, is_mainnet))


@lru_cache(maxsize=64)
def signer(private_key: str) -> Signer:
    """The `Signer` of a hex key, parsed once per process (a refresher signs with one or two keys)."""
    return Signer(private_key)


def sign_l1_action(
    private_key: str,
    action: Mapping[str, Any],
    vault_address: str | None,
    nonce: int,
    expires_after: int | None,
    is_mainnet: bool,
) -> dict[str, Any]:
    """Sign like the SDK: `{"r": "0x..", "s": "0x..", "v": 27|28}`, r and s as hex of the int with no
    zero-padding (the SDK's `to_hex(int)`; the venue also takes the 64-digit form)."""
    return signer(private_key).sign_l1_action(action, vault_address, nonce, expires_after, is_mainnet)


def address_of(private_key: str) -> str:
    """The lowercase 0x address of a private key (the venue's nonce and approval key)."""
    return signer(private_key).address
