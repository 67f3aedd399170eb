"""Real agency names in 311 extracts -> the agency codes of the bundled city files.

Exact names first, then the first matching prefix. A name that maps to nothing is left
out of the scores and counted, so a gap in this table shows in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AgencyAliases:
    exact: dict[str, str] = field(default_factory=dict)
    prefixes: tuple[tuple[str, str], ...] = ()

    def resolve(self, name: str, codes: frozenset[str]) -> str | None:
        """The agency code for a name in the data; a name equal to a code maps to it."""
        name = name.strip()
        if name in self.exact:
            return self.exact[name]
        for prefix, code in self.prefixes:
            if name.startswith(prefix):
                return code
        lowered = name.lower()
        return lowered if lowered in codes else None


# NYC 311 uses the agencies' acronyms; the codes in nyc.yaml are the same, lowercased.
NYC = AgencyAliases()

# SF311 records the work queue; the department is the prefix of the queue's name.
SF = AgencyAliases(
    exact={
        "Noise Report Queue": "sf311",  # informational reports, closed by 311
        "Graffiti Abatement - Internal Queue": "sfpw",
        "HSOC Queue": "police",
        "US Postal Service Maintenance Queue": "sf311",  # an outside party, via 311
    },
    prefixes=(
        ("311 ", "sf311"),
        ("SSP - MTA", "sfmta"),
        ("DPW", "sfpw"),
        ("DPT", "sfmta"),
        ("MUNI", "sfmta"),
        ("SFMTA", "sfmta"),
        ("Parking Enforcement", "sfmta"),
        ("PUC", "sfpuc"),
        ("PG and E", "pge"),
        ("AT and T", "att"),
        ("Clear Channel", "clear_channel"),
        ("Recology", "recology"),
        ("Housing Authority", "sfha"),
        ("RPD", "rpd"),
        ("Rec and Park", "rpd"),
        ("DBI", "dbi"),
        ("DPH", "dph"),
        ("SFFD", "sffd"),
        ("Port Authority", "port"),
        ("Entertainment Commission", "entertainment"),
        ("Police", "police"),
        ("Animal Care and Control", "animal_care"),
        ("Assessor", "city_admin"),
        ("City Attorney", "city_admin"),
        ("County Clerk", "city_admin"),
        ("Planning", "city_admin"),
        ("Mayors Office", "city_admin"),
        ("Real Estate Department", "city_admin"),
        ("Technology", "city_admin"),
    ),
)

BY_CITY: dict[str, AgencyAliases] = {"nyc": NYC, "sf": SF}
