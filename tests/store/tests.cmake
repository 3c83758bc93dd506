add_executable(test_store
  ${CMAKE_CURRENT_LIST_DIR}/test_indexes.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_store.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_durability.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_key.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_snapshot_manifest.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_vocabulary.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_hash_only.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_query_cache.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_catalog.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_shared_catalog.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_shard.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_embeddings.cpp
)
target_link_libraries(test_store PRIVATE neardup_test_main neardup_test_support neardup::store neardup_warnings opencv_imgcodecs faiss)
# The POPCNT scan is internal to the store; its oracle test compares it with FAISS directly.
target_include_directories(test_store PRIVATE ${PROJECT_SOURCE_DIR}/store/src)
catch_discover_tests(test_store TEST_PREFIX "store:" EXTRA_ARGS --warn NoTests)
