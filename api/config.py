"""What the web layer needs, handed to it by the composition."""

from __future__ import annotations

from pydantic import BaseModel, Field

from dispatch.core.config import DispatchConfig


class ApiConfig(BaseModel):
    dispatch: DispatchConfig
    max_image_bytes: int = Field(default=5_000_000, ge=1)
    public_url: str = "http://127.0.0.1:8000"
    # a Leaflet tile URL such as https://tile.example/{z}/{x}/{y}.png; empty draws the maps on a
    # blank background (district outlines and pins only) and calls no external host
    map_tile_url: str = Field(default="", max_length=500)
    map_attribution: str = Field(default="", max_length=300)
