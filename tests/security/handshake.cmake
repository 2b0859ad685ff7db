# Control channel (issue 13, items 3 and 6): mutual authentication, sealed frames, the pre-auth frame limit.
rty_security_test(fake_coordinator run_handshake.py LABELS protocol stub)
rty_security_test(injected_frames run_handshake.py LABELS protocol coordinator stub)
rty_security_test(unauthenticated_flood_memory run_handshake.py LABELS protocol coordinator)
