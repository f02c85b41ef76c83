// Scenario text that many tests share.
#pragma once

namespace duende::testing {

/// The reference daemon as a scenario target: kvd on its own port, its data in the run
/// directory, ready when it says so (sd_notify).
inline constexpr const char* kKvdTarget = R"([[target]]
name = "kvd"
command = ["duende-fixture-kvd", "--port", "{port.kvd}", "--data-dir", "{run_dir}/kvd"]
address = "127.0.0.1:{port.kvd}"
[target.readiness]
kind = "notify"
)";

}  // namespace duende::testing
