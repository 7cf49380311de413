"""The demo and test harness: an embedded Synapse, scripted people, the demo network.

Not used by the running bot; the demo (`natverk demo`) and the integration tests use it.
"""
