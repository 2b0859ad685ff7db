# Issue 13, items 1, 2, 7: the stub's pilot port and what reaches the coordinator through it.
rty_security_test(pilot_port_other_uid run_port.py LABELS stub pilot)
rty_security_test(pilot_port_forged_finish run_port.py LABELS stub pilot)
rty_security_test(pilot_port_huge_update_job run_port.py LABELS stub pilot)
rty_security_test(stub_secret_not_in_environ run_port.py LABELS stub)
