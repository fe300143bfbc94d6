"""HTTP helpers shared by every client we run (the ARI client, the SMS gateways, the check) below them all."""
