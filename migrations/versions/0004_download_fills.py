"""download fills: cached card coverage and a per-camera bandwidth cap

Revision ID: 0004_download_fills
Revises: 0003_health
Create Date: 2026-11-25 16:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_download_fills'
down_revision = '0003_health'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cameras', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_kbps', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('card_holds_from', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('card_checked_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('cameras', schema=None) as batch_op:
        batch_op.drop_column('card_checked_at')
        batch_op.drop_column('card_holds_from')
        batch_op.drop_column('max_kbps')
