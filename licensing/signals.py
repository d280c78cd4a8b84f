"""Signals of licensing, answered by the layer above it (which licensing may not import)."""

from django.dispatch import Signal

# Sent inside the transaction that holds the dataset's row lock, before terms are proposed or
# accepted on it, with `dataset`, `is_exclusive` (of those terms) and `now`. A receiver returns
# a Conflict (a domain error) to refuse, naming a hold on the dataset that licensing cannot see
# (the marketplace's orders reserving or buying it), or None. The caller raises the first one.
negotiation_hold_check = Signal()

# Sent inside the transaction of a service that changed license options with a queryset
# `update()` (which sends no `post_save`), with `dataset_ids` (the datasets whose options
# changed) and `now`. The catalog copies the active options' prices, uses and exclusivity onto its
# listings and refreshes them; options saved one by one reach it through `post_save`.
license_options_changed = Signal()
