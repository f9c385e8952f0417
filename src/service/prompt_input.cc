#include "service/prompt_input.h"

#include <algorithm>
#include <array>

namespace assist::service {

Violation decode_violation(const DecodeError& error) {
  const auto& detail = error.message;
  const auto colon = detail.find(": ");
  if (colon != std::string::npos && detail.find(' ') > colon && colon > 0)
    return {detail.substr(0, colon), detail.substr(colon + 2)};
  return {"body", detail};
}

std::optional<std::string_view> prompt_line_text(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find_first_not_of(" \t") == std::string_view::npos) return std::nullopt;
  return line;
}

PromptLines split_prompt_lines(std::string_view body, std::size_t max_lines) {
  PromptLines out;
  std::size_t number = 0;
  for (std::size_t at = 0; at <= body.size();) {
    auto end = body.find('\n', at);
    if (end == std::string_view::npos) end = body.size();
    ++number;
    if (const auto text = prompt_line_text(body.substr(at, end - at))) {
      if (out.count++ < max_lines) out.lines.push_back({number, *text});
    }
    at = end + 1;
  }
  return out;
}

LineRead read_prompt_line(std::istream& in, std::string& line, std::size_t max_bytes) {
  line.clear();
  bool any = false;
  bool too_long = false;
  // istream::getline scans the stream's buffer for the newline itself: a
  // call per chunk of the line, not one per byte.
  std::array<char, 4096> chunk;
  for (;;) {
    in.getline(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto got = static_cast<std::size_t>(in.gcount());  // the newline included, when it was read
    any = any || got > 0;
    const bool at_end = in.eof();
    // The chunk filled before the newline (not a read error: that ends the line).
    const bool goes_on = !at_end && in.fail() && !in.bad() && got == chunk.size() - 1;
    const std::size_t stored = at_end || goes_on ? got : got - 1;
    const std::size_t kept = std::min(stored, max_bytes - line.size());
    line.append(chunk.data(), kept);
    too_long = too_long || kept < stored;
    if (!goes_on) break;
    in.clear();
  }
  if (!any) return LineRead::end;
  return too_long ? LineRead::too_long : LineRead::line;
}

}  // namespace assist::service
