# Outside names that become paths, and sizes (tracker issue 13 items 5 and 8): run_names.py.
rty_security_test(names_outfiles_escape run_names.py LABELS harvester bookkeeping merge TIMEOUT 60)
rty_security_test(names_commit_log_escape run_names.py LABELS harvester bookkeeping merge TIMEOUT 60)
rty_security_test(names_state_json_escape run_names.py LABELS harvester bookkeeping merge TIMEOUT 60)
rty_security_test(names_huge_job_limit run_names.py LABELS harvester bookkeeping merge TIMEOUT 60)
rty_security_test(names_huge_job_default run_names.py LABELS harvester bookkeeping merge TIMEOUT 60)
rty_security_test(names_oversized_job_spec run_names.py LABELS harvester bookkeeping merge TIMEOUT 60)
rty_security_test(names_oversized_harvester_cfg run_names.py LABELS harvester bookkeeping merge TIMEOUT 60)
rty_security_test(names_oversized_event_ranges run_names.py LABELS harvester bookkeeping merge TIMEOUT 90)
