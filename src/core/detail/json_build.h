// Building JSON objects fast, for the hot encoders: the PROMPT_SYNC frame
// and its payload, the ACK, audit lines.
#ifndef ASSIST_SRC_CORE_DETAIL_JSON_BUILD_H
#define ASSIST_SRC_CORE_DETAIL_JSON_BUILD_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serializer.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_stack.hpp>

namespace assist::detail {

// Appends what `serializer` (reset to a value) writes to `out`.
inline void serialize_onto(boost::json::serializer& serializer, std::string& out) {
  std::array<char, 1024> chunk;
  while (!serializer.done()) out += serializer.read(chunk.data(), chunk.size());
}

// json::value_stack (the DOM builder Boost.JSON's own parser uses, which
// assembles each object in one step instead of inserting and
// duplicate-checking members one by one) over stack memory. Push members
// (nested containers through stack()), then serialize with finish_object();
// the builder is spent after that.
class StackJsonBuilder {
 public:
  StackJsonBuilder() : resource_(values_.data(), values_.size()), stack_({}, scratch_.data(), scratch_.size()) {
    stack_.reset(&resource_);
  }
  StackJsonBuilder(const StackJsonBuilder&) = delete;
  StackJsonBuilder& operator=(const StackJsonBuilder&) = delete;

  boost::json::value_stack& stack() { return stack_; }
  void text(std::string_view key, std::string_view value) {
    stack_.push_key(key);
    stack_.push_string(value);
  }
  void integer(std::string_view key, std::int64_t value) {
    stack_.push_key(key);
    stack_.push_int64(value);
  }
  void real(std::string_view key, double value) {
    stack_.push_key(key);
    stack_.push_double(value);
  }
  void boolean(std::string_view key, bool value) {
    stack_.push_key(key);
    stack_.push_bool(value);
  }

  // The top-level object of `members` members, serialized.
  std::string finish_object(std::size_t members) {
    stack_.push_object(members);
    const boost::json::value document = stack_.release();
    boost::json::serializer serializer;
    serializer.reset(&document);
    std::string out;
    serialize_onto(serializer, out);
    return out;
  }

 private:
  std::array<unsigned char, 4096> values_;
  std::array<unsigned char, 2048> scratch_;
  boost::json::monotonic_resource resource_;
  boost::json::value_stack stack_;
};

// One JSON object of fixed members (keys and their order), refilled and
// serialized again for every frame or line of that shape: the object is not
// rebuilt (no duplicate-key check) and its strings keep their capacity, so
// after the first uses nothing is allocated. Keep one per thread (it is not
// thread-safe) and set every member before each serialization.
class FixedJsonObject {
 public:
  // Members named `keys`, in that order, all null.
  explicit FixedJsonObject(std::initializer_list<std::string_view> keys) {
    for (const auto key : keys) object_.emplace(key, nullptr);
  }
  FixedJsonObject(const FixedJsonObject&) = delete;
  FixedJsonObject& operator=(const FixedJsonObject&) = delete;

  // Member `i`, for scalars: `at(i) = 42`, `at(i) = nullptr`.
  boost::json::value& at(std::size_t i) { return object_.begin()[i].value(); }
  // Sets member `i` to a string, reusing its buffer.
  void text(std::size_t i, std::string_view value) {
    if (auto* s = at(i).if_string()) s->assign(value);
    else at(i) = value;
  }
  // Serializes the object, appended to `out`.
  void serialize_onto(std::string& out) {
    serializer_.reset(&object_);
    detail::serialize_onto(serializer_, out);
  }

 private:
  boost::json::object object_;  // members in insertion order
  boost::json::serializer serializer_;
};

}  // namespace assist::detail

#endif
