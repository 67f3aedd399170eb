"""What the web layer needs, handed to it by the composition."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, Field, field_validator

from dispatch.core.config import DispatchConfig
from dispatch.core.inputs import DEFAULT_MAX_MEGAPIXELS


class ApiConfig(BaseModel):
    dispatch: DispatchConfig
    max_image_bytes: int = Field(default=5_000_000, ge=1)
    public_url: str = "http://127.0.0.1:8000"
    # a Leaflet tile URL such as https://tile.example/{z}/{x}/{y}.png; empty draws the maps on a
    # blank background (district outlines and pins only) and calls no external host
    map_tile_url: str = Field(default="", max_length=500)
    map_attribution: str = Field(default="", max_length=300)
    max_image_megapixels: float = Field(default=DEFAULT_MAX_MEGAPIXELS, gt=0, le=1000)
    # addresses (or networks) of the reverse proxies whose X-Forwarded-For and
    # X-Forwarded-Proto are believed; none by default: the client is the connecting address
    trusted_proxies: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, proxies: list[str]) -> list[str]:
        """Each an IP address or network (ValueError names a bad one), written as uvicorn's
        proxy middleware reads it: "10.0.0.7/24" becomes "10.0.0.0/24"."""
        return [str(ipaddress.ip_network(p, strict=False)) if "/" in p else str(ipaddress.ip_address(p))
                for p in (proxy.strip() for proxy in proxies)]
