// Deep copy of a FAISS binary index (FAISS has no clone for binary indexes): through its own serialisation,
// so every index type it can write is covered, with its parameters.
#pragma once

#include <memory>

#include <faiss/IndexBinary.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

namespace neardup::store::detail {

inline std::unique_ptr<faiss::IndexBinary> clone_binary_index(const faiss::IndexBinary& index) {
    faiss::VectorIOWriter writer;
    faiss::write_index_binary(&index, &writer);
    faiss::VectorIOReader reader;
    reader.data = std::move(writer.data);
    return std::unique_ptr<faiss::IndexBinary>(faiss::read_index_binary(&reader));
}

}  // namespace neardup::store::detail
