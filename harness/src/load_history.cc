#include "duende/harness/load_history.h"

#include <algorithm>

namespace duende::harness {

bool Indeterminate(OpOutcome outcome) {
  return outcome == OpOutcome::kDropped || outcome == OpOutcome::kTimeout ||
         outcome == OpOutcome::kAbandoned;
}

bool ParseOutcome(char letter, OpOutcome* outcome) {
  switch (letter) {
    case 'o':
    case 'e':
    case 'n':
    case 'd':
    case 't':
    case 'a':
      *outcome = static_cast<OpOutcome>(letter);
      return true;
    default:
      return false;
  }
}

std::string TruncateOpText(std::string_view text) {
  return std::string(text.substr(0, kMaxOpText));
}

std::string TruncateOpValue(std::string_view value) {
  return std::string(value.substr(0, kMaxOpValue));
}

std::string PrintableText(std::string_view text, size_t max_bytes) {
  std::string out;
  for (char c : text.substr(0, max_bytes)) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += '?';
    } else {
      out += c;
    }
  }
  if (text.size() > max_bytes) out += "...";
  return out;
}

nlohmann::json EncodeOps(const std::vector<LoadOp>& ops, bool readback) {
  int64_t base = ops.empty() ? 0 : ops.front().invoke_ns;
  for (const LoadOp& op : ops) base = std::min(base, op.invoke_ns);
  nlohmann::json rows = nlohmann::json::array();
  for (const LoadOp& op : ops) {
    nlohmann::json row = {op.client,
                          op.invoke_ns - base,
                          op.complete_ns - op.invoke_ns,
                          std::string(1, static_cast<char>(op.outcome)),
                          op.key,
                          readback ? op.found : op.seq};
    if (!op.f.empty() || !op.node.empty()) {
      row.push_back(op.text);
      row.push_back(op.f);
      row.push_back(op.value);
      row.push_back(op.read ? nlohmann::json(*op.read) : nlohmann::json(nullptr));
      if (!op.node.empty()) row.push_back(op.node);
    } else if (!op.text.empty()) {
      row.push_back(op.text);
    }
    rows.push_back(std::move(row));
  }
  return {{"base_ns", base}, {"ops", std::move(rows)}};
}

std::vector<LoadOp> DecodeOps(const nlohmann::json& data, bool readback, size_t* bad_rows) {
  std::vector<LoadOp> out;
  size_t bad = 0;
  auto base_it = data.find("base_ns");
  auto ops_it = data.find("ops");
  if (base_it == data.end() || !base_it->is_number_integer() || ops_it == data.end() ||
      !ops_it->is_array()) {
    if (bad_rows != nullptr) *bad_rows += 1;
    return out;
  }
  const int64_t base = base_it->get<int64_t>();
  out.reserve(ops_it->size());
  for (const auto& row : *ops_it) {
    OpOutcome outcome;
    if (!row.is_array() || row.size() < 6 || !row[0].is_number_unsigned() ||
        !row[1].is_number_integer() || !row[2].is_number_integer() || !row[3].is_string() ||
        row[3].get_ref<const std::string&>().size() != 1 ||
        !ParseOutcome(row[3].get_ref<const std::string&>()[0], &outcome) ||
        !row[4].is_number_unsigned() || !row[5].is_number_unsigned() ||
        (row.size() > 6 && !row[6].is_string()) || row.size() == 8 || row.size() == 9 ||
        row.size() > 11 ||
        (row.size() >= 10 && (!row[7].is_string() ||
                              (row.size() == 10 && row[7].get_ref<const std::string&>().empty()) ||
                              !row[8].is_string() || !(row[9].is_string() || row[9].is_null()))) ||
        (row.size() == 11 &&
         (!row[10].is_string() || row[10].get_ref<const std::string&>().empty()))) {
      ++bad;
      continue;
    }
    LoadOp op;
    op.client = row[0].get<uint32_t>();
    op.invoke_ns = base + row[1].get<int64_t>();
    op.complete_ns = op.invoke_ns + row[2].get<int64_t>();
    op.outcome = outcome;
    op.key = row[4].get<uint64_t>();
    (readback ? op.found : op.seq) = row[5].get<uint64_t>();
    if (row.size() > 6) op.text = row[6].get<std::string>();
    if (row.size() >= 10) {
      op.f = row[7].get<std::string>();
      op.value = row[8].get<std::string>();
      if (row[9].is_string()) op.read = row[9].get<std::string>();
    }
    if (row.size() == 11) op.node = row[10].get<std::string>();
    out.push_back(std::move(op));
  }
  if (bad_rows != nullptr) *bad_rows += bad;
  return out;
}

std::vector<LoadOp> OpsFromEvents(const std::vector<model::Event>& events, const char* type) {
  const bool readback = std::string_view(type) == model::events::kReadbackOps;
  std::vector<LoadOp> out;
  for (const auto& e : events) {
    if (e.type != type) continue;
    auto batch = DecodeOps(e.data, readback);
    out.insert(out.end(), std::make_move_iterator(batch.begin()),
               std::make_move_iterator(batch.end()));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const LoadOp& a, const LoadOp& b) { return a.invoke_ns < b.invoke_ns; });
  return out;
}

}  // namespace duende::harness
