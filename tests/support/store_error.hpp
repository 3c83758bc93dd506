// The message of the StoreError a call throws, for tests that expect one by its exact words.
#pragma once

#include <functional>
#include <string>

#include "neardup/store/catalog.hpp"

namespace neardup::test {

// What `fn` throws as a StoreError; empty when it throws none.
inline std::string store_error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const store::StoreError& e) {
        return e.what();
    }
    return {};
}

}  // namespace neardup::test
