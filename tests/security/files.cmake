# Issue 13 items 4 and 9: temporaries and shared directories, two instances, orphaned merges.
rty_security_test(files_planted_tmp run_files.py LABELS common)
rty_security_test(files_unsafe_dirs run_files.py LABELS common config)
rty_security_test(files_second_instance run_files.py LABELS common coordinator)
rty_security_test(merge_killed_with_raythenad run_files.py LABELS common merge)
rty_security_test(merge_orphan_writes_no_final run_files.py LABELS merge)
