# unit tests of store/ (zt_unit_test(name source libs...)). Sources are named from this
# file's directory so that the list also works when included from another project.
zt_unit_test(test_event ${CMAKE_CURRENT_LIST_DIR}/test_event.c zt_store)
zt_unit_test(test_keys ${CMAKE_CURRENT_LIST_DIR}/test_keys.c zt_store)
zt_unit_test(test_registry ${CMAKE_CURRENT_LIST_DIR}/test_registry.c zt_store)
target_compile_definitions(test_registry PRIVATE
  ZT_ZONES_CSV="${CMAKE_CURRENT_LIST_DIR}/../../data/zones.csv")
zt_unit_test(test_store ${CMAKE_CURRENT_LIST_DIR}/test_store.c zt_store)
target_compile_definitions(test_store PRIVATE
  ZT_ZONES_CSV="${CMAKE_CURRENT_LIST_DIR}/../../data/zones.csv")
zt_unit_test(test_apply ${CMAKE_CURRENT_LIST_DIR}/test_apply.c zt_store)
zt_unit_test(test_store_ops ${CMAKE_CURRENT_LIST_DIR}/test_store_ops.c zt_store)
target_compile_definitions(test_store_ops PRIVATE
  ZT_ZONES_CSV="${CMAKE_CURRENT_LIST_DIR}/../../data/zones.csv")
zt_unit_test(test_store_shared ${CMAKE_CURRENT_LIST_DIR}/test_store_shared.c zt_store)
zt_unit_test(test_store_readers ${CMAKE_CURRENT_LIST_DIR}/test_store_readers.c zt_store)
target_compile_definitions(test_store_readers PRIVATE
  ZT_ZONES_CSV="${CMAKE_CURRENT_LIST_DIR}/../../data/zones.csv")
