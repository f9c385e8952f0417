#include "service/prompt_input.h"

#include <sstream>

#include <gtest/gtest.h>

namespace assist::service {
namespace {

TEST(PromptInput, LineTextDropsTheCarriageReturnAndSkipsBlankLines) {
  EXPECT_EQ(prompt_line_text("{}\r"), "{}");
  EXPECT_EQ(prompt_line_text(" {} "), " {} ");
  EXPECT_FALSE(prompt_line_text(""));
  EXPECT_FALSE(prompt_line_text(" \t\r"));
}

TEST(PromptInput, SplitNumbersLinesCountingBlankOnes) {
  const auto batch = split_prompt_lines("{\"a\":1}\r\n\n  \t\n{\"b\":2}", 10);
  ASSERT_EQ(batch.count, 2u);
  ASSERT_EQ(batch.lines.size(), 2u);
  EXPECT_EQ(batch.lines[0].number, 1u);
  EXPECT_EQ(batch.lines[0].text, "{\"a\":1}");
  EXPECT_EQ(batch.lines[1].number, 4u);
  EXPECT_EQ(batch.lines[1].text, "{\"b\":2}");
  EXPECT_EQ(split_prompt_lines("", 10).count, 0u);
}

// An oversized batch is counted for its 413 without a vector of every line.
TEST(PromptInput, SplitKeepsAtMostMaxLinesButCountsAll) {
  std::string body;
  for (int i = 0; i < 1000; ++i) body += "{}\n";
  const auto batch = split_prompt_lines(body, 3);
  EXPECT_EQ(batch.count, 1000u);
  ASSERT_EQ(batch.lines.size(), 3u);
  EXPECT_EQ(batch.lines[2].number, 3u);
}

TEST(PromptInput, ReadLineSplitsAtLineFeedsAndKeepsALastLineWithoutOne) {
  std::istringstream in("one\r\n\ntwo");
  std::string line;
  EXPECT_EQ(read_prompt_line(in, line, 100), LineRead::line);
  EXPECT_EQ(line, "one\r");
  EXPECT_EQ(read_prompt_line(in, line, 100), LineRead::line);
  EXPECT_EQ(line, "");
  EXPECT_EQ(read_prompt_line(in, line, 100), LineRead::line);
  EXPECT_EQ(line, "two");
  EXPECT_EQ(read_prompt_line(in, line, 100), LineRead::end);
}

// `send` used std::getline, which held a whole line however long it was.
TEST(PromptInput, ReadLineHoldsAtMostMaxBytesAndSkipsTheRestOfALongLine) {
  std::istringstream in(std::string(10'000, 'x') + "\nnext\n");
  std::string line;
  EXPECT_EQ(read_prompt_line(in, line, 8), LineRead::too_long);
  EXPECT_EQ(line, "xxxxxxxx");
  EXPECT_EQ(read_prompt_line(in, line, 8), LineRead::line);
  EXPECT_EQ(line, "next");
  EXPECT_EQ(read_prompt_line(in, line, 8), LineRead::end);
}

// The line is read in chunks: lengths around a chunk's size (4 KiB) and
// several chunks long come back whole, with and without a final newline.
TEST(PromptInput, ReadLineKeepsLinesLongerThanOneChunkWhole) {
  for (const std::size_t length : {4094u, 4095u, 4096u, 4097u, 8191u, 10'000u}) {
    const std::string text(length, 'y');
    std::istringstream in(text + "\n" + text);
    std::string line;
    EXPECT_EQ(read_prompt_line(in, line, 20'000), LineRead::line) << length;
    EXPECT_EQ(line, text) << length;
    EXPECT_EQ(read_prompt_line(in, line, 20'000), LineRead::line) << length;
    EXPECT_EQ(line, text) << length;
    EXPECT_EQ(read_prompt_line(in, line, 20'000), LineRead::end) << length;
  }
  std::istringstream in(std::string(9'000, 'z') + "\nshort\n");
  std::string line;
  EXPECT_EQ(read_prompt_line(in, line, 5'000), LineRead::too_long);
  EXPECT_EQ(line, std::string(5'000, 'z'));
  EXPECT_EQ(read_prompt_line(in, line, 5'000), LineRead::line);
  EXPECT_EQ(line, "short");
}

// A stream whose reads fail (an I/O error under std::cin) ends the input: the
// failure is not taken for a chunk that filled up and read again forever.
TEST(PromptInput, ReadLineEndsAtAReadError) {
  struct FailingBuffer : std::streambuf {
    int_type underflow() override { throw std::runtime_error("read error"); }
  } failing;
  std::istream in(&failing);
  std::string line;
  EXPECT_EQ(read_prompt_line(in, line, 100), LineRead::end);
  EXPECT_TRUE(in.bad());
}

TEST(PromptInput, DecodeErrorsBecomeOneViolationNamingTheMember) {
  auto r = decode_prompt_object(R"({"session_id":"S","agent_id":"A","interaction_id":"I","snippets":{}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(decode_violation(r.error()), (Violation{"snippets", "expected an array, got an object"}));
  r = decode_prompt_object("not json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(decode_violation(r.error()).field, "body");
}

}  // namespace
}  // namespace assist::service
