# unit tests of clients/ (zt_unit_test(name source libs...))
zt_unit_test(test_clients_lib test_clients_lib.c zonetally_lib)
target_compile_definitions(test_clients_lib PRIVATE
  ZT_TEST_ZONES="${PROJECT_SOURCE_DIR}/data/zones.csv")
zt_unit_test(test_clients_reader test_clients_reader.c zonetally_lib)
target_compile_definitions(test_clients_reader PRIVATE
  ZT_TEST_ZONES="${PROJECT_SOURCE_DIR}/data/zones.csv")
zt_unit_test(test_clients_publisher test_clients_publisher.c zonetally_lib)
