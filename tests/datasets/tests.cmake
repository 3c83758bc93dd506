# Tests of neardup::datasets (included from tests/CMakeLists.txt). They build their own tiny data sets in a
# temporary folder from generated images: no network, no downloaded packages.
add_executable(test_datasets
  ${CMAKE_CURRENT_LIST_DIR}/generated_photos.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_edits.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_source_images.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_offline_benchmark.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_public_sets.cpp
)
target_include_directories(test_datasets PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(test_datasets PRIVATE neardup_test_main neardup::datasets neardup::engine neardup_warnings
  opencv_imgproc opencv_imgcodecs nlohmann_json::nlohmann_json)
catch_discover_tests(test_datasets TEST_PREFIX "datasets:" EXTRA_ARGS --warn NoTests)
