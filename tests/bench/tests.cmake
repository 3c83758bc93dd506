# Tests of bench/metrics. Included from tests/CMakeLists.txt, so paths are relative to tests/.
# The library normally comes from bench/ (add_subdirectory(metrics)); when the benchmark programs are
# switched off (NEARDUP_BUILD_BENCH=OFF) its tests still need it, so it is added here instead.
if(NOT TARGET neardup_bench_metrics)
  add_subdirectory(${PROJECT_SOURCE_DIR}/bench/metrics ${PROJECT_BINARY_DIR}/bench/metrics)
endif()

add_executable(test_bench
  ${CMAKE_CURRENT_SOURCE_DIR}/bench/test_ground_truth_csv.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/bench/test_metrics.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/bench/test_metrics_oracle.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/bench/test_report.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/bench/test_split.cpp
)
target_link_libraries(test_bench PRIVATE neardup_test_main neardup::bench_metrics neardup_warnings
  opencv_core opencv_imgcodecs)
target_include_directories(test_bench SYSTEM PRIVATE ${OpenCV_INCLUDE_DIRS})
catch_discover_tests(test_bench TEST_PREFIX "bench: " EXTRA_ARGS --warn NoTests)
