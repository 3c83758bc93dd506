#include "neardup/indexer/fingerprint_job.hpp"

#include <memory>

#include <tbb/parallel_pipeline.h>

#include "neardup/indexer/image_files.hpp"

namespace neardup::indexer {

void run_fingerprint_job(const std::vector<std::filesystem::path>& files, const SignatureExtractor& extractor,
                         const FingerprintJobOptions& options, const std::function<void(FingerprintOutcome&)>& consume) {
    std::size_t next = 0;
    using Item = std::shared_ptr<FingerprintOutcome>;
    tbb::parallel_pipeline(
        options.max_in_flight,
        tbb::make_filter<void, Item>(tbb::filter_mode::serial_in_order,
                                     [&](tbb::flow_control& fc) -> Item {
                                         if (next >= files.size()) {
                                             fc.stop();
                                             return nullptr;
                                         }
                                         auto item = std::make_shared<FingerprintOutcome>();
                                         item->index = next;
                                         item->path = files[next++];
                                         return item;
                                     }) &
            tbb::make_filter<Item, Item>(tbb::filter_mode::parallel,
                                         [&](Item item) {
                                             auto data = read_file(item->path, options.max_file_bytes);
                                             if (!data) {
                                                 item->signature = data.error();
                                                 return item;
                                             }
                                             item->file_bytes = data.value().size();
                                             item->signature = extractor.compute(data.value());
                                             return item;
                                         }) &
            tbb::make_filter<Item, void>(tbb::filter_mode::serial_in_order, [&](Item item) { consume(*item); }));
}

}  // namespace neardup::indexer
