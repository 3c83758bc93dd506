add_executable(test_indexer
  ${CMAKE_CURRENT_LIST_DIR}/test_index_job.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_cli.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_hash_list.cpp
)
target_link_libraries(test_indexer PRIVATE neardup_test_main neardup_test_support neardup::indexer neardup::store
  nlohmann_json::nlohmann_json opencv_imgcodecs SQLite::SQLite3 neardup_warnings)
target_compile_definitions(test_indexer PRIVATE NEARDUP_BINARY="$<TARGET_FILE:neardup>")
add_dependencies(test_indexer neardup)
catch_discover_tests(test_indexer TEST_PREFIX "indexer:" EXTRA_ARGS --warn NoTests)
