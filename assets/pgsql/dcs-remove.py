#!/usr/bin/python3
# Remove a Patroni cluster's keys from the DCS (what `patronictl remove` does, without
# its prompts: `pigsty pgsql rm` has asked already). Uses Patroni's own DCS client and
# the credentials in its config. Run after every member is stopped.
#   dcs-remove.py CONFIG          delete the cluster's keys
#   dcs-remove.py CONFIG --check  exit 0 when nothing of the cluster is left in the DCS
import sys

from patroni.config import Config
from patroni.dcs import get_dcs

config = Config(sys.argv[1])
dcs = get_dcs(config)
cluster = dcs.get_cluster()
empty = cluster.initialize is None and cluster.leader is None and not cluster.members and cluster.config is None
if "--check" in sys.argv[2:]:
    sys.exit(0 if empty else 1)
if not empty:
    dcs.delete_cluster()
print("removed the keys of `%s` from the DCS" % config["scope"])
