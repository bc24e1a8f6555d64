"""Hyperliquid L1 action signing, byte for byte as hyperliquid-python-sdk `utils/signing.py` does it.

An L1 action (scheduleCancel, cancel, order) is signed in two steps:
1. `action_hash`: keccak256 of msgpack(action) ‖ nonce (u64 BE) ‖ vault flag [‖ 0x00 ‖ expiresAfter
   (u64 BE)]. The venue re-serialises the action it received with rmp-serde and compares, so map key
   order, integer widths and the absence of a key (never a null) all change the hash.
2. That hash, as `connectionId`, goes into a "phantom agent" EIP-712 message that the key signs.

A wrong byte anywhere does not fail loudly: the venue recovers a different address and answers
"User or API Wallet 0x... does not exist." So this module is kept short and checked against the
SDK's vectors (VENUES.md 3.4 and 6).

eth_account (~300 ms to import) and keccak (~50 ms) load inside the functions: importing this module
costs only msgpack, so no venue pays for the signer until it signs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgpack

_ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
_EIP712_DOMAIN = {
    "chainId": 1337,  # 1337 on mainnet and testnet alike; only the agent's `source` differs
    "name": "Exchange",
    "verifyingContract": _ZERO_ADDRESS,
    "version": "1",
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
    from eth_hash.auto import keccak

    digest: bytes = keccak(action_preimage(action, vault_address, nonce, expires_after))
    return digest


def l1_typed_data(connection_id: bytes, is_mainnet: bool) -> dict[str, Any]:
    """The EIP-712 message for a phantom agent: `source` "a" on mainnet, "b" on testnet."""
    return {
        "domain": dict(_EIP712_DOMAIN),
        "types": {name: list(fields) for name, fields in _EIP712_TYPES.items()},
        "primaryType": "Agent",
        "message": {"source": "a" if is_mainnet else "b", "connectionId": connection_id},
    }


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
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    connection_id = action_hash(action, vault_address, nonce, expires_after)
    signable = encode_typed_data(full_message=l1_typed_data(connection_id, is_mainnet))
    signed = Account.sign_message(signable, private_key)
    return {"r": hex(signed.r), "s": hex(signed.s), "v": int(signed.v)}


def address_of(private_key: str) -> str:
    """The lowercase 0x address of a private key (the venue's nonce and approval key)."""
    from eth_account import Account

    address: str = Account.from_key(private_key).address
    return address.lower()
