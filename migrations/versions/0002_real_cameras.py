"""real cameras: per-camera replay clock and fill method

Revision ID: 0002_real_cameras
Revises: 0001
Create Date: 2026-11-25 16:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_real_cameras'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cameras', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replay_clock', sa.String(length=8), nullable=False, server_default='utc'))
        batch_op.add_column(sa.Column('fill_method', sa.String(length=16), nullable=False, server_default='auto'))
    # Dahua firmware reads replay times as its local time: existing Dahua cameras get that clock.
    op.execute("UPDATE cameras SET replay_clock = 'local' WHERE vendor = 'dahua'")
    with op.batch_alter_table('cameras', schema=None) as batch_op:
        batch_op.alter_column('replay_clock', server_default=None)
        batch_op.alter_column('fill_method', server_default=None)


def downgrade():
    with op.batch_alter_table('cameras', schema=None) as batch_op:
        batch_op.drop_column('fill_method')
        batch_op.drop_column('replay_clock')
