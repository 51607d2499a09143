"""Page sizes and List tokens as the proto defines them, checked the same way for every paged read."""

from __future__ import annotations

from msa.memstore.errors import InvalidArgument

MAX_PAGE_SIZE = 1000
MAX_PAGE_TOKEN = 20  # digits of a List token (an ordinal < 2**64)


def page_size(page_size: int) -> int:
    """0 means the default page of 100 (the proto's contract)."""
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"page_size must be in [1, {MAX_PAGE_SIZE}] (0 = 100), got {page_size}")
    return page_size or 100


def page_start(token: str) -> int:
    if not token:
        return 0
    if len(token) > MAX_PAGE_TOKEN or not (token.isascii() and token.isdigit()) or int(token) >= 2**64:
        raise InvalidArgument(f"page_token {token[:MAX_PAGE_TOKEN]!r} is not one this store issued; pass the "
                              "next_page_token of the previous page, or none for the first")
    return int(token)


