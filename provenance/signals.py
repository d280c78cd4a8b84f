"""Signals provenance sends so that the layers above it can react without being imported.

Each is sent inside the transaction of the change, so a receiver's writes commit or roll back
with it. Receivers: marketplace (listings) and licensing (licenses, buyers' notifications).

- `version_approved(version, actor, now)`: a reviewer approved a version; publish it.
- `dataset_suspended(dataset, claim, actor, reason, now)`: an upheld rights claim suspended
  the dataset; hide its listing, flag its licenses, tell its buyers.
- `dataset_reinstated(dataset, claim, actor, reason, now)`: the dataset is restored; show it
  again and clear the flags.
"""

from django.dispatch import Signal

version_approved = Signal()
dataset_suspended = Signal()
dataset_reinstated = Signal()
