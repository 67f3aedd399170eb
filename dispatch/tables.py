"""Every table of the system of record, for Alembic and for whoever needs the whole metadata.

Each domain keeps its tables in its own ``models.py``; importing this module registers all
of them on ``Base.metadata``.
"""

from dispatch.accounts import models as accounts
from dispatch.cameras import models as cameras
from dispatch.core.base import Base
from dispatch.delivery import models as delivery
from dispatch.documents import models as documents
from dispatch.hotline import models as hotline
from dispatch.incidents import models as incidents
from dispatch.intake import models as intake
from dispatch.learning import models as learning
from dispatch.quarantine import models as quarantine
from dispatch.sla import models as sla
from dispatch.tickets import models as tickets

DOMAIN_MODELS = (accounts, cameras, delivery, documents, hotline, incidents, intake, learning,
                 quarantine, sla, tickets)
metadata = Base.metadata
