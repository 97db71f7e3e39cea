// Writing JSON by hand into a fmt buffer (stats --json, the Chrome trace
// export, the report's data): strings escaped as RFC 8259 says.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace mmiotrace::analysis {

// `s` as a JSON string literal, quotes included. Bytes that are not valid
// UTF-8 are written as U+FFFD, so that the document stays valid JSON.
void put_json_string(fmt::memory_buffer& out, std::string_view s);

}  // namespace mmiotrace::analysis
