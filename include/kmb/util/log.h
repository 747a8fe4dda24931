#pragma once
// Structured logging (spdlog underneath): one line per event, logfmt or JSON.
//   log::Warn("summary poll failed", {{"node", name}, {"reason", st.reason()}});
// Never pass a credential as a field: messages come from Status, which never holds one.

#include <initializer_list>
#include <string_view>
#include <utility>

namespace kmb::log {

enum class Format { kLogfmt, kJson };
using Field = std::pair<std::string_view, std::string_view>;

// level: debug, info, warn, error. Returns false for an unknown level or format.
bool Init(std::string_view level, std::string_view format);

void Debug(std::string_view msg, std::initializer_list<Field> fields = {});
void Info(std::string_view msg, std::initializer_list<Field> fields = {});
void Warn(std::string_view msg, std::initializer_list<Field> fields = {});
void Error(std::string_view msg, std::initializer_list<Field> fields = {});

}  // namespace kmb::log

namespace kmb {
// Version and git revision of this build (kube_metrics_bridge_build_info).
std::string_view Version();
std::string_view Revision();
}  // namespace kmb
