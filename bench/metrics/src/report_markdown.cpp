#include "neardup/bench/report_markdown.hpp"

#include <cstdio>
#include <functional>
#include <map>
#include <optional>

namespace neardup::bench {
namespace {

constexpr const char* kMissing = "–";  // a value that does not exist (no operating point, nothing matched)

std::string fixed4(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
}

std::string general(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

// Table cells must not break the table.
std::string cell(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '|') out += "\\|";
        else if (c == '\n' || c == '\r') out += ' ';
        else out += c;
    }
    return out;
}

void table_header(std::string& md, std::string_view first, const std::vector<std::string>& extra_columns,
                  const Report& report) {
    md += "| " + std::string(first) + " |";
    for (const std::string& c : extra_columns) md += " " + c + " |";
    for (const MethodMetrics& m : report.methods) md += " " + cell(m.method) + " |";
    md += "\n|---|";
    for (std::size_t k = 0; k < extra_columns.size() + report.methods.size(); ++k) md += "---:|";
    md += "\n";
}

void metric_row(std::string& md, std::string_view label, const Report& report,
                const std::function<std::string(const MethodMetrics&)>& value) {
    md += "| " + std::string(label) + " |";
    for (const MethodMetrics& m : report.methods) md += " " + value(m) + " |";
    md += "\n";
}

std::string recall_of(const RecallAtPrecision& r) { return r.point ? fixed4(r.point->recall) : kMissing; }
std::string threshold_of(const RecallAtPrecision& r) { return r.point ? general(r.point->threshold) : kMissing; }

const FamilyRecall* find_family(const MethodMetrics& m, const std::string& name) {
    for (const FamilyRecall& f : m.families)
        if (f.family == name) return &f;
    return nullptr;
}

}  // namespace

std::string report_to_markdown(const Report& report, std::string_view plot_file) {
    std::string md = "# " + (report.title.empty() ? std::string("neardup benchmark") : cell(report.title)) + "\n\n";
    if (!report.dataset.empty()) md += "- data: " + cell(report.dataset) + "\n";
    if (!report.command.empty()) md += "- command: `" + cell(report.command) + "`\n";
    if (!report.machine.empty()) md += "- machine: " + cell(report.machine) + "\n";
    if (!report.dataset.empty() || !report.command.empty() || !report.machine.empty()) md += "\n";

    md += "## Methods\n\n";
    md += "Micro-average precision (muAP) and recall at a precision (R@P) as in DISC21: all predictions ranked "
          "by score, recall over all ground-truth pairs. \"Decision\" judges each method's own match verdict.\n\n";
    table_header(md, "metric", {}, report);
    metric_row(md, "muAP", report, [](const MethodMetrics& m) { return fixed4(m.micro_ap); });
    metric_row(md, "R@P0.9", report, [](const MethodMetrics& m) { return recall_of(m.at_p90); });
    metric_row(md, "threshold for P0.9", report, [](const MethodMetrics& m) { return threshold_of(m.at_p90); });
    metric_row(md, "R@P0.99", report, [](const MethodMetrics& m) { return recall_of(m.at_p99); });
    metric_row(md, "threshold for P0.99", report, [](const MethodMetrics& m) { return threshold_of(m.at_p99); });
    metric_row(md, "decision precision", report, [](const MethodMetrics& m) {
        return m.decision.precision ? fixed4(*m.decision.precision) : std::string(kMissing);
    });
    metric_row(md, "decision recall", report, [](const MethodMetrics& m) { return fixed4(m.decision.recall); });
    metric_row(md, "decision false matches", report,
               [](const MethodMetrics& m) { return std::to_string(m.decision.false_matches); });
    metric_row(md, "hard-negative false matches", report, [](const MethodMetrics& m) {
        return m.hard_negatives.queries == 0 ? std::string(kMissing) : std::to_string(m.hard_negatives.false_matches);
    });
    metric_row(md, "... on the related reference", report, [](const MethodMetrics& m) {
        return m.hard_negatives.queries == 0 ? std::string(kMissing)
                                             : std::to_string(m.hard_negatives.related_false_matches);
    });
    metric_row(md, "predictions", report, [](const MethodMetrics& m) { return std::to_string(m.predictions); });
    metric_row(md, "ground-truth pairs", report,
               [](const MethodMetrics& m) { return std::to_string(m.ground_truth_pairs); });

    // Families of all methods (they share the data, so normally the same set), with their pair counts.
    std::map<std::string, std::size_t> families;
    for (const MethodMetrics& m : report.methods)
        for (const FamilyRecall& f : m.families) families.emplace(f.family, f.ground_truth_pairs);
    if (!families.empty()) {
        const auto family_table = [&](std::string_view heading, std::string_view note,
                                      const std::function<std::string(const FamilyRecall&)>& value) {
            md += "\n## " + std::string(heading) + "\n\n" + std::string(note) + "\n\n";
            table_header(md, "family", {"pairs"}, report);
            for (const auto& [name, pairs] : families) {
                md += "| " + cell(name) + " | " + std::to_string(pairs) + " |";
                for (const MethodMetrics& m : report.methods) {
                    const FamilyRecall* f = find_family(m, name);
                    md += " " + (f ? value(*f) : std::string(kMissing)) + " |";
                }
                md += "\n";
            }
        };
        family_table("Recall per family: match decision",
                     "Share of each family's ground-truth pairs that the method reported as a match.",
                     [](const FamilyRecall& f) {
                         return fixed4(f.decision_recall) + " (" + std::to_string(f.found_by_decision) + ")";
                     });
        family_table("Recall per family at precision 0.99",
                     "Share of each family's ground-truth pairs scored at or above the method's global "
                     "precision-0.99 threshold.",
                     [](const FamilyRecall& f) {
                         if (!f.recall_at_p99) return std::string(kMissing);
                         return fixed4(*f.recall_at_p99) + " (" + std::to_string(*f.found_at_p99) + ")";
                     });
    }

    if (!plot_file.empty()) md += "\n![precision-recall curves](" + std::string(plot_file) + ")\n";
    return md;
}

}  // namespace neardup::bench
