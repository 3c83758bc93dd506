add_executable(test_server
  ${CMAKE_CURRENT_LIST_DIR}/test_request_target.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_multipart.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_metrics.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_handler.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_server.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_router.cpp
)
target_link_libraries(test_server PRIVATE neardup_test_main neardup_test_support neardup::server neardup_warnings opencv_imgcodecs)
target_compile_definitions(test_server PRIVATE NEARDUP_SERVER_BINARY="$<TARGET_FILE:neardup-server>")
add_dependencies(test_server neardup-server)
catch_discover_tests(test_server TEST_PREFIX "server:" EXTRA_ARGS --warn NoTests)
