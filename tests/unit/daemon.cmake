# unit tests of daemon/ (zt_unit_test(name source libs...))
zt_unit_test(test_config test_config.c zt_config)
zt_unit_test(test_validate test_validate.c zt_daemon_core)
target_compile_definitions(test_validate PRIVATE
  ZT_ZONES_CSV="${CMAKE_CURRENT_LIST_DIR}/../../data/zones.csv")

zt_unit_test(test_acktrack test_acktrack.c zt_daemon_core)
zt_unit_test(test_batch test_batch.c zt_daemon_core)
zt_unit_test(test_keyfile test_keyfile.c zt_daemon_core)
zt_unit_test(test_sse test_sse.c zt_daemon_core)
