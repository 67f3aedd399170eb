"""A city drafted from its records: it loads, maps every request type exactly, routes by the
records' majority agency (with district exceptions; newer records weigh more where that
routes the newest records better), and names agencies and districts as the records do;
`cityloop city init` writes it and checks it."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from cityloop.cli import cityloop
from dispatch.city.config import CityConfigError, load_city, parse_city
from dispatch.city.routing import RoutingInput, route_by_config
from dispatch.learning.drafting import HALF_LIVES, RULE_MIN_ROWS, choose_half_life, draft_city, tally
from dispatch.learning.history_files import HistoryRow

AT = datetime(2024, 3, 1, 12, tzinfo=UTC)


def row(n: int, kind: str, agency: str, district: str | None = None) -> HistoryRow:
    return HistoryRow(line=n, text=f"request {n}", category=kind, agency=agency, created_at=AT,
                      closed_at=None, district=district, lat=None, lon=None, external_id=None)


def records() -> list[HistoryRow]:
    rows = [row(n, "Noise - Residential", "NYPD", "BRONX") for n in range(30)]
    rows += [row(100 + n, "Street Light Condition", "DOT", "QUEENS") for n in range(8)]
    rows += [row(200, "Street Light Condition", "DEP", "QUEENS")]
    # in Brooklyn, potholes go to another agency than everywhere else: a rule
    rows += [row(300 + n, "Pothole (Street)", "DOT", "QUEENS") for n in range(RULE_MIN_ROWS + 5)]
    rows += [row(400 + n, "Pothole (Street)", "DDC", "BROOKLYN") for n in range(RULE_MIN_ROWS)]
    return rows


def route(city_text: str, kind: str, district: str | None) -> str | None:
    city = parse_city(__import__("yaml").safe_load(city_text))
    code = city.category_for_type(kind)
    assert code is not None
    found = city.district_by_name(district) if district else None
    decided = route_by_config(city, RoutingInput(category=code, district=found.code if found else None,
                                                 text="x", at=AT))
    return decided.agency if decided else None


def test_the_draft_loads_and_routes_each_type_to_its_majority_agency_with_district_rules() -> None:
    text = draft_city(tally(records()), name="Test City")
    city = parse_city(__import__("yaml").safe_load(text))
    assert [a.name for a in city.agencies] == ["DOT", "NYPD", "DDC", "DEP"]  # commonest first
    assert {d.name for d in city.district_list} == {"BRONX", "QUEENS", "BROOKLYN"}
    assert city.district_shapes == []  # known by name only
    assert city.category_for_type("street light condition") == "street_light_condition"
    assert route(text, "Noise - Residential", "BRONX") == "nypd"
    assert route(text, "Street Light Condition", "QUEENS") == "dot"
    assert route(text, "Pothole (Street)", "QUEENS") == "dot"
    assert route(text, "Pothole (Street)", "BROOKLYN") == "ddc"
    assert "default_agency: dot  # 8 of 9 records (88.9%); also DEP: 1" in text
    assert city.agency("nypd") is not None and city.agency("nypd").queue == "nypd"  # type: ignore[union-attr]


def test_city_init_writes_a_file_that_passes_the_check(tmp_path: Path) -> None:
    source = tmp_path / "records.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["opened", "kind", "dept", "what", "borough"])
        for r in records():
            writer.writerow(["03/01/2024 12:00:00 PM", r.category, r.agency, r.text, r.district])
    output = tmp_path / "city.yaml"
    done = CliRunner().invoke(cityloop, [
        "city", "init", "--from-history", str(source), "--map",
        "text=what,category=kind,agency=dept,created_at=opened,district=borough", "--name", "Test City",
        "-o", str(output)], prog_name="cityloop")
    assert done.exit_code == 0, done.output
    assert "OK — Test City: 4 agencies, 4 categories, 3 districts, 1 routing rules" in done.output
    assert load_city(output).fallback_category == "other"


def dated(n: int, kind: str, agency: str, day: int) -> HistoryRow:
    return HistoryRow(line=n, text=f"request {n}", category=kind, agency=agency,
                      created_at=AT + timedelta(days=day), closed_at=None, district=None, lat=None,
                      lon=None, external_id=None)


def test_newer_records_count_more_when_that_routes_the_newest_better() -> None:
    # a queue renamed a year ago: most records name the old one, the recent ones the new one
    rows = [dated(n, "Graffiti", "DPW Old Queue", n // 2) for n in range(600)]
    rows += [dated(1000 + n, "Graffiti", "DPW New Queue", 300 + n // 2) for n in range(400)]
    rows += [dated(2000 + n, "Noise", "Police", n // 4) for n in range(2000)]
    counts = tally(rows)
    choice = choose_half_life(counts)
    assert choice.half_life is not None and choice.validation_rows >= 100
    assert choice.accuracy[choice.half_life] > choice.accuracy[None]
    text = draft_city(counts, name="Drift City", group_agencies=False)
    assert route(text, "Graffiti", None) == "dpw_new_queue"  # 400 records against 600
    assert "default_agency: dpw_new_queue  # 400 of 1000 records (40.0%), " in text
    assert f"halves every {choice.half_life:.0f} days" in text
    # as departments, both queues are DPW's, and so is the next one the city opens
    departments = parse_city(__import__("yaml").safe_load(draft_city(counts, name="Drift City")))
    assert [a.name for a in departments.agencies] == ["Police", "DPW"]
    assert departments.agency_for_name("DPW Newest Queue") == "dpw"


def test_work_queues_fold_into_their_department_and_plain_names_stay_apart() -> None:
    names = {"DPW Ops Queue": 40, "DPW BSM Queue": 30, "Recology_Litter": 20, "Recology_Abandoned": 10,
             "Department of Transportation": 25, "Department of Sanitation": 25, "NYPD": 15,
             "Housing Authority SR Queue": 12, "PUC - Water\n    injected: true": 6, "PUC Sewer Ops": 5,
             "DEPARTMENT OF PARKS": 4, "DEPARTMENT OF BUILDINGS": 3, "NYC Parks": 2, "NYC Housing": 2,
             "AT and T - Graffiti": 2, "AT and T - Lines": 1, "At Home Care": 1,
             "Parking Enforcement Dispatch Queue": 9, "Parking Enforcement Review Queue": 8,
             "Noise Report Queue": 7, "Dept of Health Queue": 3, "Dept of Housing Queue": 3}
    rows = [row(1000 * i + n, f"Type {i}", agency) for i, (agency, count) in enumerate(names.items())
            for n in range(count)]
    text = draft_city(tally(rows), name="Queue City")
    city = parse_city(__import__("yaml").safe_load(text))
    assert [a.name for a in city.agencies] == [
        "DPW", "Recology", "Department of Transportation", "Department of Sanitation", "Parking Enforcement",
        "NYPD", "Housing Authority SR Queue", "PUC", "Noise Report Queue", "DEPARTMENT OF PARKS",
        "DEPARTMENT OF BUILDINGS", "AT", "Dept of Health Queue", "Dept of Housing Queue", "NYC Parks",
        "NYC Housing", "At Home Care"]
    # plain queue names of one unit fold on their shared first words; a generic first word does not
    assert city.agency("parking_enforcement").aliases == ["Parking Enforcement *"]  # type: ignore[union-attr]
    assert city.agency_for_name("Parking Enforcement Tow Queue") == "parking_enforcement"
    assert city.agency("dpw").aliases == ["DPW *"]  # type: ignore[union-attr]
    # "AT *" would take "At Home Care" (names match in any case): the group's names are listed instead
    assert city.agency("at").aliases == ["AT and T - Graffiti", "AT and T - Lines"]  # type: ignore[union-attr]
    assert city.agency_for_name("At Home Care") == "at_home_care"
    assert "# the records' names: DPW Ops Queue (40), DPW BSM Queue (30)" in text
    assert {name: city.agency_for_name(name) for name in
            ("DPW BSM Queue", "dpw new queue", "Recology_Overflowing", "Department of Buses", "NYPD")} == {
        "DPW BSM Queue": "dpw", "dpw new queue": "dpw", "Recology_Overflowing": "recology",
        "Department of Buses": None, "NYPD": "nypd"}
    assert route(text, "Type 1", None) == "dpw" and route(text, "Type 3", None) == "recology"
    # a record name with a line break stays inside its comment: the file loads, nothing was added
    assert "PUC - Water injected: true (6), PUC Sewer Ops (5)" in text
    assert not any(line.lstrip().startswith("injected") for line in text.splitlines())
    as_named = parse_city(__import__("yaml").safe_load(draft_city(tally(rows), name="q", group_agencies=False)))
    assert len(as_named.agencies) == len(names) and all(not a.aliases for a in as_named.agencies)


def test_without_drift_every_record_counts_the_same() -> None:
    rows = [dated(n, "Graffiti", "DPW" if n % 4 else "Parks", n // 2) for n in range(1000)]
    choice = choose_half_life(tally(rows))
    assert choice.half_life is None and set(choice.accuracy) == set(HALF_LIVES)
    text = draft_city(tally(rows), name="Steady City")
    assert "Every record counts the same" in text
    assert "default_agency: dpw  # 750 of 1000 records (75.0%); also Parks: 250" in text
    assert choose_half_life(tally(records())).accuracy == {}  # one day: nothing to validate on


def test_types_that_differ_only_in_case_keep_their_own_category_and_agency() -> None:
    # NYC's records hold "PLUMBING" (an HPD type) and "Plumbing" (a DOB one)
    rows = [row(n, "PLUMBING", "HPD") for n in range(30)] + [row(100 + n, "Plumbing", "DOB") for n in range(5)]
    text = draft_city(tally(rows), name="Case City")
    city = parse_city(__import__("yaml").safe_load(text))
    assert (city.category_for_type("PLUMBING"), city.category_for_type("Plumbing")) == ("plumbing", "plumbing_2")
    assert route(text, "PLUMBING", None) == "hpd"
    assert route(text, "Plumbing", None) == "dob"
    assert city.category_for_type(" plumbing ") == "plumbing"  # no exact match: any case, the first


def test_one_request_type_in_two_categories_is_refused() -> None:
    data = __import__("yaml").safe_load(draft_city(tally(records()), name="Test City"))
    data["categories"][1]["service_types"].append(data["categories"][0]["service_types"][0])
    with pytest.raises(CityConfigError) as caught:
        parse_city(data)
    assert any("categories[1].service_types[1]: 'Pothole (Street)' is already a service type of "
               "'pothole_street'" in p for p in caught.value.problems), caught.value.problems


def test_the_draft_settings_can_be_given_instead_of_chosen() -> None:
    """``half_life=None`` weighs every record the same; lower rule thresholds add district
    rules (what ``bench/draft_variants.py`` varies)."""
    rows = [row(n, "Potholes", "Roads", "NORTH") for n in range(30)]
    rows += [row(100 + n, "Potholes", "Parks", "SOUTH") for n in range(4)]
    rows += [row(200 + n, "Potholes", "Roads", "SOUTH") for n in range(2)]
    counts = tally(rows)
    strict = draft_city(counts, name="t", half_life=None)
    loose = draft_city(counts, name="t", half_life=None, rule_min_rows=3, rule_min_share=0.6)
    assert "Newer records count more" not in strict and "rules: []" in strict
    assert "districts: [south]" in loose and "agency: parks" in loose
    city = parse_city(__import__("yaml").safe_load(loose))
    south = RoutingInput(category=city.categories[0].code, district="south", text="", at=AT)
    decided = route_by_config(city, south)
    assert decided is not None and decided.agency == "parks"


def text_row(n: int, kind: str, agency: str, text: str, day: int) -> HistoryRow:
    return HistoryRow(line=n, text=text, category=kind, agency=agency, created_at=AT + timedelta(days=day),
                      closed_at=None, district=None, lat=None, lon=None, external_id=None)


def streetlights(*, telling: bool) -> list[HistoryRow]:
    """Streetlight requests over 100 days: the pole's material (the records' sub-type) tells the
    agency when ``telling``, else the agency is one in five whatever the text."""
    rows = []
    for n in range(600):
        wooden = n % 3 == 0
        text = ("Light out on Wooden Pole" if wooden else "Light out on Concrete Pole") if n % 2 else "Light out"
        if telling:
            agency = "PG and E" if wooden and n % 2 else "PUC"
        else:
            agency = "PG and E" if n % 5 == 0 else "PUC"
        rows.append(text_row(n, "Streetlight - Light Out", agency, text, n // 6))
    return rows


def test_a_sub_type_that_tells_the_agency_becomes_a_keyword_rule_chosen_on_the_newest_records() -> None:
    text = draft_city(tally(streetlights(telling=True)), name="Pole City")
    city = parse_city(__import__("yaml").safe_load(text))
    assert "# Text rules chosen by drafting from the older 80% of the records" in text
    [rule] = city.routing.rules
    assert rule.keywords == ["Light out on Wooden Pole"] and rule.agency == "pg_and_e"
    code = city.category_for_type("Streetlight - Light Out")
    assert code is not None

    def routed(words: str) -> str | None:
        decided = route_by_config(city, RoutingInput(category=code, district=None, text=words, at=AT))
        return decided.agency if decided else None

    assert routed("Light out on Wooden Pole") == "pg_and_e"
    assert routed("Light out on Concrete Pole") == "puc" and routed("Light out") == "puc"
    # given instead of chosen: None drafts no text rule
    assert parse_city(__import__("yaml").safe_load(
        draft_city(tally(streetlights(telling=True)), name="t", text_rule_setting=None))).routing.rules == []


def test_no_text_rule_when_the_text_does_not_tell_the_agency() -> None:
    text = draft_city(tally(streetlights(telling=False)), name="Noise City")
    assert "none: " in text  # the candidates were tried on the newest records
    assert parse_city(__import__("yaml").safe_load(text)).routing.rules == []


def test_a_citizen_s_long_text_is_never_a_keyword() -> None:
    long_text = "The light on the wooden pole outside number 12 has been out for a week now, please fix"
    rows = [text_row(n, "Streetlight", "PG and E" if n % 2 else "PUC", long_text if n % 2 else "x", n // 6)
            for n in range(600)]
    counts = tally(rows)
    assert {text for _, text, _, _ in counts.texts} == {long_text, "x"}  # kept: a rule's keyword may be inside
    assert parse_city(__import__("yaml").safe_load(draft_city(counts, name="t"))).routing.rules == []


def test_a_sub_type_that_stopped_telling_the_agency_gets_no_rule() -> None:
    """On the older 80% the wooden poles went to PG and E; on the newest 20% they went back to
    the type's default: the rule would route the newest records worse, so none is drafted."""
    rows = []
    for n in range(600):
        wooden = n % 2 == 0
        agency = "PG and E" if wooden and n < 480 else "PUC"
        rows.append(text_row(n, "Streetlight", agency, "Wooden Pole" if wooden else "Concrete Pole", n // 6))
    rows += [text_row(1000 + n, "Streetlight", "PUC", "Concrete Pole", n // 6) for n in range(200)]
    text = draft_city(tally(rows), name="t")
    assert "none: " in text
    assert parse_city(__import__("yaml").safe_load(text)).routing.rules == []
    # the same records with the newest fifth still at PG and E keep the rule
    rows = [text_row(n, "Streetlight", "PG and E" if n % 2 == 0 else "PUC",
                     "Wooden Pole" if n % 2 == 0 else "Concrete Pole", n // 6) for n in range(600)]
    rows += [text_row(1000 + n, "Streetlight", "PUC", "Concrete Pole", n // 6) for n in range(200)]
    [rule] = parse_city(__import__("yaml").safe_load(draft_city(tally(rows), name="t"))).routing.rules
    assert rule.keywords == ["Wooden Pole"]


def test_a_long_text_holding_a_keyword_is_scored_as_the_file_routes_it() -> None:
    """"Graffiti" alone goes to DPW, but long descriptions mentioning graffiti go to MUNI: a
    keyword rule would take them too (the file matches keywords inside any text), so the check
    sees it route worse and drafts none."""
    rows = []
    for n in range(600):
        if n % 3 == 0:
            rows.append(text_row(n, "General Request", "DPW", "Graffiti", n // 6))
        else:
            rows.append(text_row(n, "General Request", "MUNI",
                                 f"There is graffiti on the bus shelter at stop number {n}, please clean it", n // 6))
    text = draft_city(tally(rows), name="t")
    assert parse_city(__import__("yaml").safe_load(text)).routing.rules == []


def test_queue_names_of_different_departments_stay_apart() -> None:
    names = ["New York City Police Department Queue", "New York City Fire Department Queue",
             "San Francisco Police Queue", "San Francisco Fire Queue", "Parks and Recreation Queue",
             "Parks and Wildlife Queue", "Public Health Intake Queue", "Public Health Review Queue"]
    rows = [row(100 * i + n, f"Type {i}", name) for i, name in enumerate(names) for n in range(5 + i)]
    city = parse_city(__import__("yaml").safe_load(draft_city(tally(rows), name="t")))
    assert sorted(a.name for a in city.agencies) == sorted([*names[:6], "Public Health"])


def test_rule_ids_stay_unique_and_odd_characters_stay_loadable() -> None:
    """A district named like a text rule's id, two districts whose codes share their first
    characters, and a control character YAML refuses raw, all in one drafted file."""
    rows = []
    for n in range(600):
        wooden = n % 2 == 0
        rows.append(HistoryRow(line=n, text="Wooden\x9aPole" if wooden else "Concrete Pole", category="Streetlight",
                               agency="PG\x85E" if wooden else "PUC", created_at=AT + timedelta(days=n // 6),
                               closed_at=None, district="Text1" if wooden and n % 4 == 0 else "north",
                               lat=None, lon=None, external_id=None))
    rows += [text_row(1000 + n, "Streetlight", "PUC", "Concrete Pole", n // 6) for n in range(200)]
    rows += [row(2000 + n, "Pothole", "Roads", district) for n in range(RULE_MIN_ROWS)
             for district in ("Southeast Quadrant North", "Southeast Quadrant South")]
    rows += [row(3000 + n, "Pothole", "Parks", "West") for n in range(3 * RULE_MIN_ROWS)]
    text = draft_city(tally(rows), name="t")
    city = parse_city(__import__("yaml").safe_load(text))  # loads: no duplicate id, no refused character
    ids = [rule.id for rule in city.routing.rules]
    assert len(ids) == len(set(ids)) >= 4, ids
    assert any(rule.keywords == ["Wooden\x9aPole"] for rule in city.routing.rules)
    assert [a.name for a in city.agencies if a.name.startswith("PG")] == ["PG\x85E"]  # NEL did not fold it
    assert not any(line.lstrip().startswith("E") for line in text.splitlines())  # nor end a comment early


def test_a_short_text_with_personal_data_is_never_a_keyword() -> None:
    """A caller who gives the same phone number every time tells the agency as well as a sub-type
    would, but the number must not end up in the city file."""
    rows = [text_row(n, "Streetlight", "PG and E" if n % 2 == 0 else "PUC",
                     "call 415-555-0123" if n % 2 == 0 else "Concrete Pole", n // 6) for n in range(600)]
    rows += [text_row(1000 + n, "Streetlight", "PUC", "Concrete Pole", n // 6) for n in range(200)]
    text = draft_city(tally(rows), name="t")
    assert "555-0123" not in text
    assert parse_city(__import__("yaml").safe_load(text)).routing.rules == []
    # the same records with a sub-type in place of the number do get their rule
    rows = [text_row(r.line, r.category or "", r.agency or "", "Wooden Pole" if "555" in r.text else r.text,
                     (r.created_at - AT).days if r.created_at else 0) for r in rows]
    [rule] = parse_city(__import__("yaml").safe_load(draft_city(tally(rows), name="t"))).routing.rules
    assert rule.keywords == ["Wooden Pole"]
