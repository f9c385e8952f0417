#include "service/prompt_input.h"

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
  std::streambuf* buffer = in.rdbuf();
  bool any = false;
  bool too_long = false;
  for (;;) {
    const auto c = buffer->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      if (!any) return LineRead::end;
      break;
    }
    any = true;
    if (c == '\n') break;
    if (line.size() < max_bytes) line.push_back(static_cast<char>(c));
    else too_long = true;
  }
  return too_long ? LineRead::too_long : LineRead::line;
}

}  // namespace assist::service
