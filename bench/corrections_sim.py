"""Corrections teach the router: a city file with a wrong rule, dispatchers who correct it in
the inbox, an admin who accepts the rule the corrections propose; routing accuracy recovers.

Every step is the real code path: reports are stored (``create_event``), understood and routed
(``understand_event``, ``route_incident`` — with the accepted rule overlay and the learned
router), a signed-in dispatcher reassigns each wrongly routed ticket with ``take_action``
(the flow behind the inbox's reassign button), and the admin accepts proposals with
``decide_proposal`` (the flow behind the /learning page) once a day (every ``--review-every``
reports). Riverton's file gets one wrong rule first: fallen trees → sanitation.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/cityloop_sim \\
        .venv/bin/python bench/corrections_sim.py --reports 80 --plot corrections.png

The database is migrated and emptied of tickets first: use a scratch database.
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from dispatch.accounts.users import add_user
from dispatch.city.config import RoutingRule, load_city
from dispatch.core.celery_app import configure
from dispatch.core.config import DispatchConfig
from dispatch.core.db import migrate, transaction
from dispatch.core.runtime import set_config
from dispatch.incidents import flows as incident_flows
from dispatch.intake.schemas import EventCreate
from dispatch.intake.service import create_event
from dispatch.learning.flows import decide_proposal
from dispatch.learning.proposals import proposals, with_rules
from dispatch.tickets import flows as ticket_flows
from dispatch.tickets.models import Ticket

ROOT = Path(__file__).resolve().parents[1]
REPORTS = [  # (text, category hint, the right agency)
    ("A big branch fell across the sidewalk", "fallen_tree", "landscaping"),
    ("An old tree came down on the road after the storm", "fallen_tree", "landscaping"),
    ("Garbage bags dumped on the corner", "exposed_garbage", "sanitation"),
    ("Water is pooling deep on the street", "waterlogging", "drainage"),
]
WRONG = RoutingRule(id="wrong-trees", agency="sanitation", categories=["fallen_tree"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=80)
    parser.add_argument("--review-every", type=int, default=20, help="reports between admin reviews")
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]
    migrate(url)
    # deliveries go to an in-memory broker: no worker is needed to watch the routing
    config = DispatchConfig(database_url=url, broker_url="memory://",
                            city_file=ROOT / "cityloop" / "cities" / "riverton.yaml")
    set_config(config)
    configure(config)
    engine = create_engine(url)
    factory = sessionmaker(engine, expire_on_commit=False)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE tickets, incidents, events, training_examples, rule_proposals, users "
                          "RESTART IDENTITY CASCADE"))
    base = load_city(ROOT / "cityloop" / "cities" / "riverton.yaml")
    city = with_rules(base, [WRONG])
    with transaction(factory) as db:
        dispatcher = add_user(db_session=db, username="sim-dispatcher", password="sim-password-123",
                              role="dispatcher")
        admin = add_user(db_session=db, username="sim-admin", password="sim-password-123", role="admin")
    rng = random.Random(args.seed)
    hits: list[bool] = []
    accepted_at: list[int] = []
    for n in range(args.reports):
        report, hint, right = rng.choice(REPORTS)
        with transaction(factory) as db:
            event, _ = create_event(db_session=db, city=city, max_image_bytes=1, data=EventCreate(
                source="hotline", description=f"{report} (report {n})", category_hint=hint,
                lat=41.62, lon=-93.65))
            event_id = event.id
        incident_id = incident_flows.understand_event(factory=factory, city=city, chat=None, event_id=event_id)
        assert incident_id is not None
        routed = ticket_flows.route_incident(factory=factory, city=city, chat=None, incident_id=incident_id)
        assert routed is not None
        hits.append(routed.agency == right)
        if routed.agency != right:
            with factory() as db:
                ticket_flows.take_action(db_session=db, city=city, user=dispatcher, ticket_id=routed.ticket_id,
                                         action="reassign", agency=right, note="wrong agency")
        if (n + 1) % args.review_every == 0:
            with factory() as db:
                waiting = [p.id for p in proposals(db_session=db, status="proposed")]
            for proposal_id in waiting:
                with factory() as db:
                    decide_proposal(db_session=db, user=admin, proposal_id=proposal_id, accept=True)
                accepted_at.append(n + 1)
    windows = [sum(hits[i:i + args.window]) / len(hits[i:i + args.window])
               for i in range(0, len(hits), args.window)]
    with factory() as db:
        corrections = db.scalar(text("SELECT count(*) FROM training_examples"))
        reassigned = db.query(Ticket).filter(Ticket.routing["method"].astext == "manual").count()
    print(f"reports {len(hits)}; routed right {sum(hits)} ({100 * sum(hits) / len(hits):.1f}%); "
          f"corrections {corrections}; reassigned tickets {reassigned}; proposals accepted after "
          f"report(s) {accepted_at}")
    print("accuracy per window of", args.window, "reports:", " ".join(f"{100 * w:.0f}%" for w in windows))
    if args.plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        xs = [min((i + 1) * args.window, len(hits)) for i in range(len(windows))]
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot(xs, [100 * w for w in windows], marker="o", label="routed to the right agency")
        for at in accepted_at:
            ax.axvline(at, color="green", linestyle="--", label="admin accepts the proposed rule")
        ax.set_xlabel("reports")
        ax.set_ylabel(f"accuracy per {args.window} reports (%)")
        ax.set_ylim(0, 105)
        ax.set_title("Riverton with a wrong rule (fallen trees → sanitation), corrected in the inbox")
        ax.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print("plot:", args.plot)


if __name__ == "__main__":
    main()
