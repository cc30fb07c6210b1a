"""Flask extensions, created unbound and bound to the app in ``create_app``."""

from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import cast

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import CursorResult
from sqlalchemy import Result
from sqlalchemy import Table
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base shared by every model."""

    if TYPE_CHECKING:
        # Every model maps one table (never a join or a select), so Core statements may take
        # ``Model.__table__``; SQLAlchemy types it as the wider FromClause.
        __table__: ClassVar[Table]


db = SQLAlchemy(model_class=Base)

# The base every model subclasses. At run time it is ``db.Model`` (Base plus Flask-SQLAlchemy's
# query and bind mixins, sharing Base's registry); a type checker cannot follow an attribute of an
# instance as a base class, so it is told the declarative base it is built from.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


def rows_matched(result: Result[Any]) -> int:
    """How many rows an UPDATE, INSERT or DELETE matched.

    The session types every answer as a Result; a DML statement's is a CursorResult, which
    carries the count.
    """
    return cast(CursorResult[Any], result).rowcount
