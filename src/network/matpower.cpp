// MATPOWER case import (.m): a tokenizer and a small interpreter for the subset of MATLAB that
// MATPOWER case files use (numeric matrices, idx_bus / idx_brch / idx_gen, scalar and column-block
// arithmetic), then the conversion to a Network (MW -> kW, p.u. -> ohm on the from bus's base).
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "p2pgrid/core/format.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/io.hpp"
#include "p2pgrid/network/network.hpp"

namespace p2pgrid {
namespace {

// ------------------------------------------------------------------ tokens

enum class TokenKind { kNumber, kName, kString, kOp, kNewline, kEnd };

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;  // spelling as in the source (strings keep their quotes)
  double value = 0.0;
  int line = 0;
  bool space_before = false;  // whitespace (or a continuation) right before the token
};


std::string describe(const Token& t) {
  switch (t.kind) {
    case TokenKind::kNewline:
      return "end of line";
    case TokenKind::kEnd:
      return "end of file";
    default:
      return "'" + t.text + "'";
  }
}

[[noreturn]] void fail_at(const std::string& where, int line, const std::string& what) {
  throw Error(where + ":" + std::to_string(line) + ": " + what);
}

bool is_blank_until_eol(const std::string& s, std::size_t i) {
  for (; i < s.size() && s[i] != '\n'; ++i) {
    if (!std::isspace(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

std::vector<Token> tokenize(const std::string& s, const std::string& where) {
  std::vector<Token> out;
  int line = 1;
  bool space = false;
  bool line_start = true;  // only whitespace so far on this line
  const std::size_t n = s.size();
  std::size_t i = 0;

  auto ends_value = [&] {
    if (out.empty()) return false;
    const Token& t = out.back();
    if (t.kind == TokenKind::kNumber || t.kind == TokenKind::kName) return true;
    return t.kind == TokenKind::kOp &&
           (t.text == ")" || t.text == "]" || t.text == "}" || t.text == "'" || t.text == ".'");
  };

  while (i < n) {
    const char c = s[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      space = true;
      ++i;
      continue;
    }
    if (c == '\n') {
      Token t;
      t.kind = TokenKind::kNewline;
      t.text = "\\n";
      t.line = line;
      out.push_back(t);
      ++line;
      ++i;
      space = false;
      line_start = true;
      continue;
    }
    if (c == '%') {
      // A block comment is "%{" alone on its line, closed by "%}" alone on its line.
      if (line_start && i + 1 < n && s[i + 1] == '{' && is_blank_until_eol(s, i + 2)) {
        const int open_line = line;
        bool closed = false;
        while (!closed) {
          while (i < n && s[i] != '\n') ++i;
          if (i >= n) fail_at(where, open_line, "block comment '%{' is never closed by '%}'");
          ++i;
          ++line;
          std::size_t j = i;
          while (j < n && (s[j] == ' ' || s[j] == '\t')) ++j;
          if (j + 1 < n && s[j] == '%' && s[j + 1] == '}' && is_blank_until_eol(s, j + 2)) {
            closed = true;
            i = j + 2;
          }
        }
        while (i < n && s[i] != '\n') ++i;
        continue;
      }
      while (i < n && s[i] != '\n') ++i;
      continue;
    }
    if (c == '.' && s.compare(i, 3, "...") == 0) {
      // Continuation: the rest of the line is a comment and the line break is whitespace.
      while (i < n && s[i] != '\n') ++i;
      if (i < n) {
        ++i;
        ++line;
      }
      space = true;
      continue;
    }

    Token t;
    t.line = line;
    t.space_before = space;
    space = false;
    line_start = false;
    const std::size_t begin = i;
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && i + 1 < n && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      std::size_t j = i;
      auto digits = [&] {
        while (j < n && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      };
      digits();
      // "1.*x" is 1 .* x, "1..." is 1 then a continuation.
      if (j < n && s[j] == '.' && s.compare(j, 3, "...") != 0 &&
          !(j + 1 < n && (s[j + 1] == '*' || s[j + 1] == '/' || s[j + 1] == '^' ||
                          s[j + 1] == '\'' || s[j + 1] == '\\'))) {
        ++j;
        digits();
      }
      if (j < n && (s[j] == 'e' || s[j] == 'E' || s[j] == 'd' || s[j] == 'D')) {
        std::size_t k = j + 1;
        if (k < n && (s[k] == '+' || s[k] == '-')) ++k;
        if (k < n && std::isdigit(static_cast<unsigned char>(s[k]))) {
          j = k;
          digits();
        }
      }
      if (j < n && (std::isalpha(static_cast<unsigned char>(s[j])) || s[j] == '_')) {
        std::size_t k = j;
        while (k < n && (std::isalnum(static_cast<unsigned char>(s[k])) || s[k] == '_')) ++k;
        fail_at(where, line, "malformed number '" + s.substr(i, k - i) + "'");
      }
      t.kind = TokenKind::kNumber;
      t.text = s.substr(i, j - i);
      std::string spelling = t.text;
      for (char& ch : spelling) {
        if (ch == 'd' || ch == 'D') ch = 'e';
      }
      t.value = std::strtod(spelling.c_str(), nullptr);
      i = j;
    } else if (std::isalpha(static_cast<unsigned char>(c))) {
      std::size_t j = i;
      while (j < n && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      t.kind = TokenKind::kName;
      t.text = s.substr(i, j - i);
      i = j;
    } else if ((c == '\'' && (!ends_value() || t.space_before)) || c == '"') {
      // A quote starts a string unless it follows a value (then it is the transpose operator).
      std::size_t j = i + 1;
      for (;;) {
        if (j >= n || s[j] == '\n') fail_at(where, line, "string is not closed on its line");
        if (s[j] == c) {
          if (j + 1 < n && s[j + 1] == c) {
            j += 2;
            continue;
          }
          break;
        }
        ++j;
      }
      t.kind = TokenKind::kString;
      t.text = s.substr(begin, j + 1 - begin);
      i = j + 1;
    } else {
      static const char* const kTwo[] = {
          ".*", "./", ".^", ".\\", ".'", "==", "~=", "!=", "<=", ">=", "&&", "||"};
      static const std::string kOne = "+-*/\\^()[]{},;=:<>&|~!@.'";
      t.kind = TokenKind::kOp;
      for (const char* op : kTwo) {
        if (s.compare(i, 2, op) == 0) t.text = op;
      }
      if (t.text.empty()) {
        if (kOne.find(c) == std::string::npos) {
          char buf[16];
          if (std::isprint(static_cast<unsigned char>(c))) {
            std::snprintf(buf, sizeof buf, "'%c'", c);
          } else {
            std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned char>(c));
          }
          fail_at(where, line, std::string("unexpected character ") + buf);
        }
        t.text = std::string(1, c);
      }
      i += t.text.size();
    }
    out.push_back(t);
  }
  Token end;
  end.kind = TokenKind::kEnd;
  end.line = line;
  out.push_back(end);
  return out;
}

// ------------------------------------------------------------------ values

// A numeric matrix assigned as mpc.NAME = [...]; row_line keeps each row's source line.
struct Matrix {
  int rows = 0;
  int cols = 0;
  std::vector<double> data;  // [rows, cols], row-major
  std::vector<int> row_line;
  double at(int r, int c) const { return data[static_cast<std::size_t>(r) * cols + c]; }
  double& at(int r, int c) { return data[static_cast<std::size_t>(r) * cols + c]; }
};

// A scalar (1 x 1) or a block cut out of a matrix.
struct Value {
  int rows = 1;
  int cols = 1;
  std::vector<double> data{0.0};  // [rows, cols], row-major
  bool scalar() const { return rows == 1 && cols == 1; }
  static Value of(double v) {
    Value r;
    r.data[0] = v;
    return r;
  }
};

struct Subscript {
  bool all = false;      // ':'
  std::vector<int> one;  // 1-based
  int line = 0;
};

using NamedColumns = std::vector<std::pair<const char*, int>>;

// Output lists of MATPOWER's idx_* functions, in their order, with their values.
const std::map<std::string, NamedColumns>& idx_functions() {
  static const std::map<std::string, NamedColumns> table = {
      {"idx_bus", {{"PQ", 1},       {"PV", 2},    {"REF", 3},    {"NONE", 4},     {"BUS_I", 1},
                   {"BUS_TYPE", 2}, {"PD", 3},    {"QD", 4},     {"GS", 5},       {"BS", 6},
                   {"BUS_AREA", 7}, {"VM", 8},    {"VA", 9},     {"BASE_KV", 10}, {"ZONE", 11},
                   {"VMAX", 12},    {"VMIN", 13}, {"LAM_P", 14}, {"LAM_Q", 15},   {"MU_VMAX", 16},
                   {"MU_VMIN", 17}}},
      {"idx_brch",
       {{"F_BUS", 1},      {"T_BUS", 2},  {"BR_R", 3},    {"BR_X", 4},    {"BR_B", 5},
        {"RATE_A", 6},     {"RATE_B", 7}, {"RATE_C", 8},  {"TAP", 9},     {"SHIFT", 10},
        {"BR_STATUS", 11}, {"PF", 14},    {"QF", 15},     {"PT", 16},     {"QT", 17},
        {"MU_SF", 18},     {"MU_ST", 19}, {"ANGMIN", 12}, {"ANGMAX", 13}, {"MU_ANGMIN", 20},
        {"MU_ANGMAX", 21}}},
      {"idx_gen",
       {{"GEN_BUS", 1},   {"PG", 2},       {"QG", 3},         {"QMAX", 4},     {"QMIN", 5},
        {"VG", 6},        {"MBASE", 7},    {"GEN_STATUS", 8}, {"PMAX", 9},     {"PMIN", 10},
        {"MU_PMAX", 22},  {"MU_PMIN", 23}, {"MU_QMAX", 24},   {"MU_QMIN", 25}, {"PC1", 11},
        {"PC2", 12},      {"QC1MIN", 13},  {"QC1MAX", 14},    {"QC2MIN", 15},  {"QC2MAX", 16},
        {"RAMP_AGC", 17}, {"RAMP_10", 18}, {"RAMP_30", 19},   {"RAMP_Q", 20},  {"APF", 21}}},
      {"idx_cost",
       {{"PW_LINEAR", 1},
        {"POLYNOMIAL", 2},
        {"MODEL", 1},
        {"STARTUP", 2},
        {"SHUTDOWN", 3},
        {"NCOST", 4},
        {"COST", 5}}},
  };
  return table;
}

const std::map<std::string, double (*)(double)>& scalar_functions() {
  static const std::map<std::string, double (*)(double)> table = {
      {"sin", [](double x) { return std::sin(x); }},
      {"cos", [](double x) { return std::cos(x); }},
      {"tan", [](double x) { return std::tan(x); }},
      {"asin", [](double x) { return std::asin(x); }},
      {"acos", [](double x) { return std::acos(x); }},
      {"atan", [](double x) { return std::atan(x); }},
      {"sqrt", [](double x) { return std::sqrt(x); }},
      {"exp", [](double x) { return std::exp(x); }},
      {"log", [](double x) { return std::log(x); }},
      {"abs", [](double x) { return std::fabs(x); }},
  };
  return table;
}

// ------------------------------------------------------------------ interpreter

class Interpreter {
 public:
  Interpreter(const std::string& text, const std::string& where)
      : where_(where), toks_(tokenize(text, where)) {}

  void run() {
    bool first = true;
    for (;;) {
      while (at_separator()) ++pos_;
      if (peek().kind == TokenKind::kEnd) break;
      statement(first);
      first = false;
      const Token& t = peek();
      if (!at_separator() && t.kind != TokenKind::kEnd) {
        fail_at(where_, t.line,
                "expected ';' or a line break after the statement, got " + describe(t));
      }
    }
  }

  std::map<std::string, Matrix> matrices_;  // mpc.bus, mpc.gen, mpc.branch, ...
  std::map<std::string, double> scalars_;   // mpc.baseMVA
  std::map<std::string, int> field_line_;   // line of each field's assignment

 private:
  const Token& peek(std::size_t ahead = 0) const {
    const std::size_t i = pos_ + ahead;
    return i < toks_.size() ? toks_[i] : toks_.back();
  }
  const Token& next() {
    const Token& t = toks_[pos_];
    if (t.kind != TokenKind::kEnd) ++pos_;
    return t;
  }
  bool is_op(const char* op, std::size_t ahead = 0) const {
    return peek(ahead).kind == TokenKind::kOp && peek(ahead).text == op;
  }
  bool is_name(const char* name, std::size_t ahead = 0) const {
    return peek(ahead).kind == TokenKind::kName && peek(ahead).text == name;
  }
  bool at_separator() const {
    return peek().kind == TokenKind::kNewline || is_op(";") || is_op(",");
  }
  const Token& expect_op(const char* op, const std::string& context) {
    if (!is_op(op)) {
      fail_at(where_, peek().line,
              "expected '" + std::string(op) + "' " + context + ", got " + describe(peek()));
    }
    return next();
  }
  const Token& expect_name(const std::string& what) {
    if (peek().kind != TokenKind::kName) {
      fail_at(where_, peek().line, "expected " + what + ", got " + describe(peek()));
    }
    return next();
  }

  // The statement starting at token `start`, respelled from its tokens, for messages.
  std::string statement_text(std::size_t start) const {
    std::string text;
    int depth = 0;
    for (std::size_t i = start; i < toks_.size(); ++i) {
      const Token& t = toks_[i];
      if (t.kind == TokenKind::kEnd) break;
      if (depth == 0 && (t.kind == TokenKind::kNewline ||
                         (t.kind == TokenKind::kOp && (t.text == ";" || t.text == ",")))) {
        break;
      }
      if (t.kind == TokenKind::kNewline) continue;
      if (t.kind == TokenKind::kOp && (t.text == "(" || t.text == "[" || t.text == "{")) ++depth;
      if (t.kind == TokenKind::kOp && (t.text == ")" || t.text == "]" || t.text == "}")) --depth;
      if (!text.empty() && t.space_before) text += ' ';
      text += t.text;
      if (text.size() > 160) return text.substr(0, 160) + " ...";
    }
    return text;
  }

  [[noreturn]] void unsupported(std::size_t start, const std::string& why = "") const {
    fail_at(where_, toks_[start].line,
            "unsupported statement '" + statement_text(start) + "'" +
                (why.empty() ? std::string() : ": " + why) +
                " (the importer evaluates mpc.FIELD = [...] matrices, [..] = idx_bus / idx_brch "
                "/ idx_gen, define_constants, scalar assignments and column-block arithmetic "
                "such as mpc.bus(:, [PD QD]) = mpc.bus(:, [PD QD]) / 1e3)");
  }

  void statement(bool first) {
    const std::size_t start = pos_;
    const Token& t = peek();
    if (is_name("function")) {
      if (!first) unsupported(start, "a nested function");
      function_header(start);
    } else if (is_name("mpc") && is_op(".", 1)) {
      mpc_statement(start);
    } else if (is_op("[")) {
      multi_assignment(start);
    } else if (is_name("define_constants") &&
               (peek(1).kind == TokenKind::kNewline || peek(1).kind == TokenKind::kEnd ||
                is_op(";", 1) || is_op(",", 1))) {
      next();
      for (const auto& [fn, outputs] : idx_functions()) {
        for (const auto& [name, value] : outputs) vars_[name] = value;
      }
    } else if (t.kind == TokenKind::kName && is_op("=", 1) && t.text != "mpc" &&
               scalar_functions().count(t.text) == 0) {
      const std::string name = next().text;
      next();  // '='
      const Value v = expr();
      if (!v.scalar()) {
        fail_at(where_, t.line,
                "'" + name + "' would be a " + std::to_string(v.rows) + "x" +
                    std::to_string(v.cols) + " matrix: only scalar variables are supported");
      }
      vars_[name] = v.data[0];
    } else {
      unsupported(start);
    }
  }

  void function_header(std::size_t start) {
    next();  // function
    const Token& out = expect_name("the output name after 'function'");
    expect_op("=", "after 'function " + out.text + "'");
    expect_name("the function name");
    if (is_op("(")) {
      next();
      while (!is_op(")")) {
        if (peek().kind == TokenKind::kEnd || peek().kind == TokenKind::kNewline) {
          fail_at(where_, peek().line,
                  "expected ')' to close the argument list, got " + describe(peek()));
        }
        next();
      }
      next();
    }
    if (out.text != "mpc") unsupported(start, "the case function must return 'mpc'");
  }

  // [A, B, ~, ...] = idx_bus;
  void multi_assignment(std::size_t start) {
    next();  // '['
    std::vector<std::string> names;
    for (;;) {
      const Token& t = peek();
      if (is_op("]")) {
        next();
        break;
      }
      if (is_op(",") || t.kind == TokenKind::kNewline) {
        next();
      } else if (t.kind == TokenKind::kName) {
        names.push_back(next().text);
      } else if (is_op("~")) {
        next();
        names.emplace_back();
      } else if (t.kind == TokenKind::kEnd) {
        fail_at(where_, toks_[start].line, "'[' is never closed: expected ']'");
      } else {
        unsupported(start);
      }
    }
    if (!is_op("=")) unsupported(start);
    next();
    const Token& fn = expect_name("idx_bus, idx_brch, idx_gen or idx_cost after '[...] ='");
    const auto it = idx_functions().find(fn.text);
    if (it == idx_functions().end()) {
      unsupported(start, "'" + fn.text + "' is not one of idx_bus, idx_brch, idx_gen, idx_cost");
    }
    if (is_op("(")) {
      next();
      expect_op(")", "after '" + fn.text + "('");
    }
    const NamedColumns& outputs = it->second;
    if (names.size() > outputs.size()) {
      fail_at(where_, fn.line,
              fn.text + " returns " + std::to_string(outputs.size()) + " values but " +
                  std::to_string(names.size()) + " names are assigned");
    }
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (!names[i].empty()) vars_[names[i]] = outputs[i].second;
    }
  }

  void mpc_statement(std::size_t start) {
    next();  // mpc
    next();  // .
    const Token& field = expect_name("a field name after 'mpc.'");
    if (is_op("=")) {
      next();
      field_assignment(field);
      return;
    }
    if (!is_op("(")) unsupported(start);
    const auto [rows, cols] = subscripts();
    if (!is_op("=")) unsupported(start);
    const Token& eq = next();
    auto it = matrices_.find(field.text);
    if (it == matrices_.end()) {
      fail_at(where_, field.line, "mpc." + field.text + " is not a matrix assigned above");
    }
    Matrix& m = it->second;
    const std::vector<int> r = resolve(rows, m.rows, "row", field.text, m);
    const std::vector<int> c = resolve(cols, m.cols, "column", field.text, m);
    const Value v = expr();
    const int nr = static_cast<int>(r.size());
    const int nc = static_cast<int>(c.size());
    if (!v.scalar() && (v.rows != nr || v.cols != nc)) {
      fail_at(where_, eq.line,
              "size mismatch: assigning a " + std::to_string(v.rows) + "x" +
                  std::to_string(v.cols) + " value to a " + std::to_string(nr) + "x" +
                  std::to_string(nc) + " block of mpc." + field.text);
    }
    for (int i = 0; i < nr; ++i) {
      for (int j = 0; j < nc; ++j) {
        m.at(r[i], c[j]) = v.scalar() ? v.data[0] : v.data[static_cast<std::size_t>(i) * nc + j];
      }
    }
  }

  void field_assignment(const Token& field) {
    const std::string& name = field.text;
    field_line_[name] = field.line;
    const bool core = name == "bus" || name == "gen" || name == "branch";
    if (name == "baseMVA") {
      const Value v = expr();
      if (!v.scalar()) fail_at(where_, field.line, "mpc.baseMVA must be a scalar");
      scalars_[name] = v.data[0];
      return;
    }
    if (core) {
      if (!is_op("[")) {
        fail_at(where_, peek().line,
                "expected a matrix '[ ... ]' after 'mpc." + name + " =', got " + describe(peek()));
      }
      matrices_[name] = numeric_matrix(name);
      return;
    }
    // Other fields (version, gencost, areas, bus_name, ...) are not used: keep numeric matrices
    // so later statements may refer to them, skip anything else.
    matrices_.erase(name);
    const std::size_t save = pos_;
    if (is_op("[")) {
      try {
        matrices_[name] = numeric_matrix(name);
        return;
      } catch (const Error&) {
        pos_ = save;
      }
    }
    skip_expression();
  }

  // Skips to the end of the statement, checking that brackets balance.
  void skip_expression() {
    std::vector<const Token*> open;
    for (;;) {
      const Token& t = peek();
      if (t.kind == TokenKind::kEnd) {
        if (!open.empty()) {
          fail_at(where_, open.back()->line, "'" + open.back()->text + "' is never closed");
        }
        return;
      }
      if (open.empty() && at_separator()) return;
      if (t.kind == TokenKind::kOp) {
        if (t.text == "(" || t.text == "[" || t.text == "{") {
          open.push_back(&t);
        } else if (t.text == ")" || t.text == "]" || t.text == "}") {
          static const std::map<std::string, std::string> match = {
              {")", "("}, {"]", "["}, {"}", "{"}};
          if (open.empty() || open.back()->text != match.at(t.text)) {
            fail_at(where_, t.line, "unexpected '" + t.text + "'");
          }
          open.pop_back();
        }
      }
      next();
    }
  }

  // [ 1 2 3; 4 5 6 ] with rows separated by ';' and/or line breaks, elements by spaces or ','.
  Matrix numeric_matrix(const std::string& field) {
    const Token& open = next();  // '['
    Matrix m;
    std::vector<double> row;
    int row_line = open.line;
    int first_row_line = 0;
    auto finish_row = [&] {
      if (row.empty()) return;
      if (m.rows == 0) {
        m.cols = static_cast<int>(row.size());
        first_row_line = row_line;
      } else if (static_cast<int>(row.size()) != m.cols) {
        fail_at(where_, row_line,
                "mpc." + field + ": this row has " + std::to_string(row.size()) +
                    " values but the first row (line " + std::to_string(first_row_line) + ") has " +
                    std::to_string(m.cols));
      }
      m.data.insert(m.data.end(), row.begin(), row.end());
      m.row_line.push_back(row_line);
      ++m.rows;
      row.clear();
    };
    for (;;) {
      const Token& t = peek();
      if (t.kind == TokenKind::kEnd) {
        fail_at(where_, open.line, "mpc." + field + ": '[' is never closed: expected ']'");
      }
      if (is_op("]")) {
        next();
        finish_row();
        break;
      }
      if (t.kind == TokenKind::kNewline || is_op(";")) {
        next();
        finish_row();
        continue;
      }
      if (is_op(",")) {
        if (row.empty()) fail_at(where_, t.line, "mpc." + field + ": expected a number before ','");
        next();
        continue;
      }
      double sign = 1.0;
      if (is_op("+") || is_op("-")) {
        sign = next().text == "-" ? -1.0 : 1.0;
        if (peek().space_before) {
          fail_at(where_, t.line,
                  "mpc." + field + ": expected a number right after '" + t.text + "', got " +
                      describe(peek()));
        }
      }
      const Token& v = next();
      double value = 0.0;
      if (v.kind == TokenKind::kNumber) {
        value = v.value;
      } else if (v.kind == TokenKind::kName && (v.text == "Inf" || v.text == "inf")) {
        value = std::numeric_limits<double>::infinity();
      } else if (v.kind == TokenKind::kName && (v.text == "NaN" || v.text == "nan")) {
        value = std::numeric_limits<double>::quiet_NaN();
      } else {
        fail_at(where_, v.line, "mpc." + field + ": expected a number, got " + describe(v));
      }
      if (row.empty()) row_line = v.line;
      row.push_back(sign * value);
      const Token& after = peek();
      if (after.kind == TokenKind::kOp && after.text != "," && after.text != ";" &&
          after.text != "]" && !(after.space_before && (after.text == "+" || after.text == "-"))) {
        fail_at(where_, after.line,
                "mpc." + field + ": expected ',', ';', ']' or a space after " + describe(v) +
                    ", got " + describe(after) +
                    " (arithmetic inside a data matrix is not supported)");
      }
    }
    return m;
  }

  // ( ROWS , COLS ) where each is ':' or an expression of positive integers.
  std::pair<Subscript, Subscript> subscripts() {
    const Token& open = expect_op("(", "");
    const bool saved = in_list_;
    in_list_ = false;
    Subscript rows = subscript();
    if (!is_op(",")) {
      fail_at(
          where_, peek().line,
          "expected ',' and a column subscript, as in mpc.bus(ROW, COL), got " + describe(peek()));
    }
    next();
    Subscript cols = subscript();
    expect_op(")", "to close the '(' on line " + std::to_string(open.line));
    in_list_ = saved;
    return {rows, cols};
  }

  Subscript subscript() {
    Subscript s;
    s.line = peek().line;
    if (is_op(":") && (is_op(",", 1) || is_op(")", 1))) {
      next();
      s.all = true;
      return s;
    }
    const Value v = expr();
    for (double x : v.data) {
      if (!(x >= 1.0) || x != std::floor(x) || x > 1e9) {
        fail_at(where_, s.line, "subscript must be a positive integer, got " + format_double(x));
      }
      s.one.push_back(static_cast<int>(x));
    }
    return s;
  }

  std::vector<int> resolve(const Subscript& s, int extent, const char* what,
                           const std::string& field, const Matrix& m) const {
    std::vector<int> out;
    if (s.all) {
      for (int i = 0; i < extent; ++i) out.push_back(i);
      return out;
    }
    for (int i : s.one) {
      if (i > extent) {
        fail_at(where_, s.line,
                std::string(what) + " " + std::to_string(i) + " is out of range: mpc." + field +
                    " is " + std::to_string(m.rows) + "x" + std::to_string(m.cols));
      }
      out.push_back(i - 1);
    }
    return out;
  }

  // ---------------------------------------------------------------- expressions

  Value expr() {
    Value v = additive();
    const Token& t = peek();
    if (t.kind == TokenKind::kOp &&
        (t.text == "<" || t.text == ">" || t.text == "<=" || t.text == ">=" || t.text == "==" ||
         t.text == "~=" || t.text == "!=" || t.text == "&" || t.text == "|" || t.text == "&&" ||
         t.text == "||")) {
      fail_at(where_, t.line, "operator '" + t.text + "' is not supported");
    }
    return v;
  }

  Value additive() {
    Value v = multiplicative();
    while (is_op("+") || is_op("-")) {
      // Inside [a -b] a sign after a space and before a non-space starts a new element.
      if (in_list_ && peek().space_before && !peek(1).space_before) break;
      const Token& op = next();
      const Value r = multiplicative();
      v = binary(op, v, r);
    }
    return v;
  }

  Value multiplicative() {
    Value v = unary();
    for (;;) {
      const Token& t = peek();
      if (t.kind != TokenKind::kOp) break;
      if (t.text == "\\" || t.text == ".\\") {
        fail_at(where_, t.line, "operator '" + t.text + "' is not supported");
      }
      if (t.text != "*" && t.text != "/" && t.text != ".*" && t.text != "./") break;
      const Token& op = next();
      const Value r = unary();
      v = binary(op, v, r);
    }
    return v;
  }

  Value unary() {
    if (is_op("-") || is_op("+")) {
      const bool negate = next().text == "-";
      Value v = unary();
      if (negate) {
        for (double& x : v.data) x = -x;
      }
      return v;
    }
    if (is_op("~") || is_op("!")) {
      fail_at(where_, peek().line, "operator '" + peek().text + "' is not supported");
    }
    return power();
  }

  // MATLAB: '^' binds tighter than unary minus on its left, is left-associative, and takes a
  // signed operand on its right (2^-1).
  Value power() {
    Value v = postfix();
    while (is_op("^") || is_op(".^")) {
      const Token& op = next();
      const Value r = power_operand();
      v = binary(op, v, r);
    }
    return v;
  }

  Value power_operand() {
    if (is_op("-") || is_op("+")) {
      const bool negate = next().text == "-";
      Value v = power_operand();
      if (negate) {
        for (double& x : v.data) x = -x;
      }
      return v;
    }
    return postfix();
  }

  Value postfix() {
    Value v = primary();
    if (is_op("'") || is_op(".'")) {
      fail_at(where_, peek().line, "the transpose operator is not supported");
    }
    return v;
  }

  Value primary() {
    const Token& t = peek();
    if (t.kind == TokenKind::kNumber) {
      next();
      return Value::of(t.value);
    }
    if (is_op("(")) {
      const Token& open = next();
      const bool saved = in_list_;
      in_list_ = false;
      Value v = expr();
      expect_op(")", "to close the '(' on line " + std::to_string(open.line));
      in_list_ = saved;
      return v;
    }
    if (is_op("[")) return row_vector();
    if (is_name("mpc") && is_op(".", 1)) return mpc_reference();
    if (t.kind == TokenKind::kName) {
      next();
      const auto fn = scalar_functions().find(t.text);
      if (is_op("(") && !(in_list_ && peek().space_before)) {
        if (fn == scalar_functions().end()) {
          if (vars_.count(t.text)) {
            fail_at(where_, t.line, "indexing the variable '" + t.text + "' is not supported");
          }
          fail_at(where_, t.line,
                  "unsupported function '" + t.text +
                      "' (supported: sin cos tan asin acos atan sqrt exp log abs)");
        }
        const Token& open = next();
        const bool saved = in_list_;
        in_list_ = false;
        Value v = expr();
        if (is_op(",")) fail_at(where_, peek().line, t.text + " takes one argument");
        expect_op(")", "to close the '(' of " + t.text + " on line " + std::to_string(open.line));
        in_list_ = saved;
        for (double& x : v.data) {
          const double y = fn->second(x);
          if (std::isnan(y) && !std::isnan(x)) {
            fail_at(where_, t.line,
                    t.text + "(" + format_double(x) +
                        ") is not a real number (MATLAB would return a complex "
                        "value, which a case file cannot use)");
          }
          x = y;
        }
        return v;
      }
      const auto var = vars_.find(t.text);
      if (var != vars_.end()) return Value::of(var->second);
      if (t.text == "pi") return Value::of(3.14159265358979323846);
      if (t.text == "Inf" || t.text == "inf") {
        return Value::of(std::numeric_limits<double>::infinity());
      }
      if (t.text == "NaN" || t.text == "nan") {
        return Value::of(std::numeric_limits<double>::quiet_NaN());
      }
      if (fn != scalar_functions().end()) {
        fail_at(where_, t.line, t.text + " needs an argument in parentheses");
      }
      fail_at(where_, t.line,
              "unknown name '" + t.text +
                  "': not assigned before this line (for column names, call idx_bus / idx_brch "
                  "/ idx_gen or define_constants first)");
    }
    if (t.kind == TokenKind::kString) {
      fail_at(where_, t.line, "a string cannot be used in arithmetic");
    }
    fail_at(where_, t.line, "expected an expression, got " + describe(t));
  }

  // [a b c] or [a, b, c] of scalars (column lists such as [BR_R BR_X]).
  Value row_vector() {
    const Token& open = next();  // '['
    const bool saved = in_list_;
    in_list_ = true;
    std::vector<double> items;
    for (;;) {
      const Token& t = peek();
      if (is_op("]")) {
        next();
        break;
      }
      if (is_op(",")) {
        next();
        continue;
      }
      if (t.kind == TokenKind::kEnd || t.kind == TokenKind::kNewline || is_op(";")) {
        fail_at(where_, t.line,
                "expected ']' to close the '[' on line " + std::to_string(open.line) +
                    " (only row vectors are "
                    "supported in expressions), got " +
                    describe(t));
      }
      if (is_op(")") || is_op("}") || is_op("=")) {
        fail_at(where_, t.line,
                "expected ']' to close the '[' on line " + std::to_string(open.line) + ", got " +
                    describe(t));
      }
      const Value v = expr();
      items.insert(items.end(), v.data.begin(), v.data.end());
      if (!v.scalar()) {
        fail_at(where_, t.line, "only scalars can be listed inside [ ] in an expression");
      }
    }
    in_list_ = saved;
    if (items.empty()) fail_at(where_, open.line, "an empty [] is not supported here");
    Value v;
    v.rows = 1;
    v.cols = static_cast<int>(items.size());
    v.data = items;
    return v;
  }

  // mpc.baseMVA, or mpc.M(ROWS, COLS) of a matrix assigned above.
  Value mpc_reference() {
    next();  // mpc
    next();  // .
    const Token& field = expect_name("a field name after 'mpc.'");
    const auto s = scalars_.find(field.text);
    if (s != scalars_.end()) {
      if (is_op("(")) fail_at(where_, field.line, "mpc." + field.text + " is a scalar");
      return Value::of(s->second);
    }
    const auto it = matrices_.find(field.text);
    if (it == matrices_.end()) {
      fail_at(where_, field.line, "mpc." + field.text + " is used before it is assigned");
    }
    const Matrix& m = it->second;
    if (!is_op("(")) {
      fail_at(where_, field.line,
              "whole-matrix references are not supported: index mpc." + field.text + " as mpc." +
                  field.text + "(ROWS, COLS)");
    }
    const auto [rows, cols] = subscripts();
    const std::vector<int> r = resolve(rows, m.rows, "row", field.text, m);
    const std::vector<int> c = resolve(cols, m.cols, "column", field.text, m);
    Value v;
    v.rows = static_cast<int>(r.size());
    v.cols = static_cast<int>(c.size());
    v.data.clear();
    for (int i : r) {
      for (int j : c) v.data.push_back(m.at(i, j));
    }
    return v;
  }

  Value binary(const Token& op, const Value& a, const Value& b) const {
    const std::string& o = op.text;
    const bool elementwise =
        o == "+" || o == "-" || o == ".*" || o == "./" || o == ".^" || a.scalar() || b.scalar();
    if (!elementwise || (o == "/" && !b.scalar()) || (o == "^" && !(a.scalar() && b.scalar()))) {
      const char* what = o == "*"   ? "matrix product (use .*)"
                         : o == "/" ? "division by a matrix (use ./)"
                                    : "matrix power (use .^)";
      fail_at(where_, op.line, std::string(what) + " is not supported");
    }
    if (!a.scalar() && !b.scalar() && (a.rows != b.rows || a.cols != b.cols)) {
      fail_at(where_, op.line,
              "size mismatch in '" + o + "': " + std::to_string(a.rows) + "x" +
                  std::to_string(a.cols) + " and " + std::to_string(b.rows) + "x" +
                  std::to_string(b.cols));
    }
    Value r = a.scalar() ? b : a;
    for (std::size_t i = 0; i < r.data.size(); ++i) {
      const double x = a.scalar() ? a.data[0] : a.data[i];
      const double y = b.scalar() ? b.data[0] : b.data[i];
      double z = 0.0;
      if (o == "+") {
        z = x + y;
      } else if (o == "-") {
        z = x - y;
      } else if (o == "*" || o == ".*") {
        z = x * y;
      } else if (o == "/" || o == "./") {
        z = x / y;
      } else {
        z = std::pow(x, y);
        if (std::isnan(z) && !std::isnan(x) && !std::isnan(y)) {
          fail_at(where_, op.line, format_double(x) + "^" + format_double(y) + " is not a real number");
        }
      }
      r.data[i] = z;
    }
    return r;
  }

  std::string where_;
  std::vector<Token> toks_;
  std::size_t pos_ = 0;
  std::map<std::string, double> vars_;
  bool in_list_ = false;  // inside [ ]: spaces separate elements
};

// ------------------------------------------------------------------ conversion to a Network

// MATPOWER column numbers (0-based here).
constexpr int kBusI = 0, kBusType = 1, kPd = 2, kQd = 3, kGs = 4, kBs = 5, kVm = 7, kBaseKv = 9,
              kVmax = 11, kVmin = 12;
constexpr int kGenBus = 0, kVg = 5, kGenStatus = 7;
constexpr int kFBus = 0, kTBus = 1, kBrR = 2, kBrX = 3, kBrB = 4, kTap = 8, kShift = 9,
              kBrStatus = 10;

const Matrix& require_matrix(const Interpreter& in, const std::string& field, int min_cols,
                             const std::string& where, const char* last_column) {
  const auto it = in.matrices_.find(field);
  if (it == in.matrices_.end()) throw Error(where + ": mpc." + field + " is not assigned");
  const Matrix& m = it->second;
  const int line = in.field_line_.at(field);
  if (m.rows == 0) fail_at(where, line, "mpc." + field + " is empty");
  if (m.cols < min_cols) {
    fail_at(where, line,
            "mpc." + field + " has " + std::to_string(m.cols) + " columns; at least " +
                std::to_string(min_cols) + " are needed (up to " + last_column + ")");
  }
  // NaN is never a value of these columns (Inf can be: a generator's Q limits); caught here,
  // where the row's line is known, not later by the network's checks.
  for (int r = 0; r < m.rows; ++r)
    for (int c = 0; c < min_cols; ++c)
      if (std::isnan(m.at(r, c)))
        fail_at(where, m.row_line[r],
                "mpc." + field + " row " + std::to_string(r + 1) + ", column " +
                    std::to_string(c + 1) + ": NaN is not a value");
  return m;
}

int case_bus_number(double v, const std::string& where, int line, const std::string& what) {
  if (!(v >= 1.0) || v != std::floor(v) || v > std::numeric_limits<int>::max()) {
    fail_at(where, line, what + " must be a positive integer bus number, got " + format_double(v));
  }
  return static_cast<int>(v);
}

// " (TITLE, https://doi.org/...)" from the comment block that opens a case file, for provenance.
std::string header_summary(const std::string& text) {
  std::istringstream in(text);
  std::string line, title, doi;
  bool in_block = false;
  while (std::getline(in, line)) {
    const std::size_t first = line.find_first_not_of(" \t\r");
    const bool comment = first != std::string::npos && line[first] == '%';
    if (!comment) {
      if (in_block) break;
      if (first == std::string::npos || line.compare(first, 8, "function") == 0) continue;
      break;
    }
    in_block = true;
    if (title.empty()) {
      // "%CASE141  Power flow data ..." -> "CASE141 Power flow data ..."
      std::istringstream words(line.substr(first + 1));
      std::string word;
      while (words >> word) {
        if (title.empty()) word.erase(0, word.find_first_not_of('%'));
        if (!word.empty()) title += (title.empty() ? "" : " ") + word;
      }
    }
    const std::size_t at = line.find("https://doi.org/");
    if (doi.empty() && at != std::string::npos) {
      doi = line.substr(at, line.find_first_of(" \t\r", at) - at);
    }
  }
  if (title.empty() && doi.empty()) return "";
  if (title.empty()) return " (" + doi + ")";
  return " (" + title + (doi.empty() ? "" : ", " + doi) + ")";
}

}  // namespace

Network parse_matpower(const std::string& text, const std::string& where) {
  Interpreter in(text, where);
  in.run();

  Network net;
  const std::filesystem::path where_path(where);
  net.name = where_path.stem().string();
  if (net.name.empty()) net.name = "matpower";
  net.source = "MATPOWER " + where_path.filename().string() + header_summary(text) +
               "; imported by p2pgrid: the case file's statements evaluated, then Pd/Qd and "
               "Gs/Bs MW/MVAr -> kW/kvar (x1000), r/x/b in p.u. on base_mva, r_ohm and x_ohm = "
               "p.u. x base_kv(from bus)^2 / base_mva";

  const auto base = in.scalars_.find("baseMVA");
  if (base == in.scalars_.end()) throw Error(where + ": mpc.baseMVA is not assigned");
  net.base_mva = base->second;
  if (!std::isfinite(net.base_mva) || net.base_mva <= 0.0) {
    fail_at(where, in.field_line_.at("baseMVA"),
            "mpc.baseMVA must be a positive number, got " + format_double(net.base_mva));
  }

  // Buses.
  const Matrix& bus = require_matrix(in, "bus", kVmin + 1, where, "VMIN");
  std::map<int, int> index_of;  // case number -> index
  int slack_line = 0;
  net.slack_bus = -1;
  for (int i = 0; i < bus.rows; ++i) {
    const int line = bus.row_line[i];
    const int id = case_bus_number(bus.at(i, kBusI), where, line, "BUS_I");
    const auto [it, inserted] = index_of.emplace(id, i);
    if (!inserted) {
      fail_at(where, line,
              "bus " + std::to_string(id) + " is defined twice (first on line " +
                  std::to_string(bus.row_line[it->second]) + ")");
    }
    const double type = bus.at(i, kBusType);
    const std::string label = "bus " + std::to_string(id);
    if (type == 2.0) {
      fail_at(where, line,
              label +
                  " is a PV bus (type 2): the radial sweep supports only PQ "
                  "buses plus one slack");
    } else if (type == 4.0) {
      fail_at(where, line,
              label +
                  " is isolated (type 4): isolated buses are not supported; "
                  "remove the bus and its branches");
    } else if (type == 3.0) {
      if (net.slack_bus >= 0) {
        fail_at(where, line,
                label + " is a second slack bus (type 3) after bus " +
                    std::to_string(net.bus_id[net.slack_bus]) + " (line " +
                    std::to_string(slack_line) + "): the radial sweep supports exactly one slack");
      }
      net.slack_bus = i;
      slack_line = line;
    } else if (type != 1.0) {
      fail_at(where, line, label + " has bus type " + format_double(type) + "; expected 1 (PQ) or 3 (slack)");
    }
    net.bus_id.push_back(id);
    net.base_kv.push_back(bus.at(i, kBaseKv));
    net.p_load_kw.push_back(bus.at(i, kPd) * 1000.0);
    net.q_load_kvar.push_back(bus.at(i, kQd) * 1000.0);
    net.g_shunt_kw.push_back(bus.at(i, kGs) * 1000.0);
    net.b_shunt_kvar.push_back(bus.at(i, kBs) * 1000.0);
    net.v_min_pu.push_back(bus.at(i, kVmin));
    net.v_max_pu.push_back(bus.at(i, kVmax));
    if (!(bus.at(i, kBaseKv) > 0.0)) {
      fail_at(where, line,
              label + " has BASE_KV " + format_double(bus.at(i, kBaseKv)) +
                  "; a positive nominal voltage is needed for the ohm conversion");
    }
  }
  if (net.slack_bus < 0) {
    fail_at(where, in.field_line_.at("bus"),
            "mpc.bus has no slack bus (type 3); exactly one is needed");
  }
  net.v_slack_pu = bus.at(net.slack_bus, kVm);

  // Generators: only at the slack bus, where an in-service one sets the voltage.
  if (in.matrices_.count("gen")) {
    const Matrix& gen = require_matrix(in, "gen", kGenStatus + 1, where, "GEN_STATUS");
    bool have_vg = false;
    for (int g = 0; g < gen.rows; ++g) {
      const int line = gen.row_line[g];
      const int id = case_bus_number(gen.at(g, kGenBus), where, line, "GEN_BUS");
      const auto it = index_of.find(id);
      if (it == index_of.end()) {
        fail_at(where, line,
                "generator at bus " + std::to_string(id) + ": there is no bus " +
                    std::to_string(id) + " in mpc.bus");
      }
      if (!(gen.at(g, kGenStatus) > 0.0)) continue;
      if (it->second != net.slack_bus) {
        fail_at(where, line,
                "in-service generator at bus " + std::to_string(id) +
                    ", which is not the slack bus " + std::to_string(net.bus_id[net.slack_bus]) +
                    ": the radial sweep supports only PQ buses plus one slack (model it as a "
                    "negative load instead)");
      }
      if (!have_vg) {
        net.v_slack_pu = gen.at(g, kVg);
        have_vg = true;
      }
    }
  }

  // Branches.
  const Matrix& branch = require_matrix(in, "branch", kBrStatus + 1, where, "BR_STATUS");
  for (int k = 0; k < branch.rows; ++k) {
    const int line = branch.row_line[k];
    const int f_id = case_bus_number(branch.at(k, kFBus), where, line, "F_BUS");
    const int t_id = case_bus_number(branch.at(k, kTBus), where, line, "T_BUS");
    const std::string label = "branch " + std::to_string(f_id) + "-" + std::to_string(t_id);
    for (const int id : {f_id, t_id}) {
      if (!index_of.count(id)) {
        fail_at(where, line, label + ": there is no bus " + std::to_string(id) + " in mpc.bus");
      }
    }
    const double tap = branch.at(k, kTap);
    const double shift = branch.at(k, kShift);
    if ((tap != 0.0 && tap != 1.0) || shift != 0.0) {
      fail_at(where, line,
              label + " is a transformer (TAP " + format_double(tap) + ", SHIFT " + format_double(shift) +
                  "): transformers are not supported yet (TAP must be 0 or 1 and SHIFT 0)");
    }
    const double status = branch.at(k, kBrStatus);
    if (status != 0.0 && status != 1.0)  // NaN or -1 must not read as "in service"
      fail_at(where, line,
              label + ": BR_STATUS is " + format_double(status) + ", expected 1 (in service) or 0");
    const int f = index_of.at(f_id);
    net.from_bus.push_back(f);
    net.to_bus.push_back(index_of.at(t_id));
    const double r_pu = branch.at(k, kBrR);
    const double x_pu = branch.at(k, kBrX);
    net.r_pu.push_back(r_pu);
    net.x_pu.push_back(x_pu);
    net.b_pu.push_back(branch.at(k, kBrB));
    net.r_ohm.push_back(r_pu * net.z_base_ohm(f));
    net.x_ohm.push_back(x_pu * net.z_base_ohm(f));
    net.in_service.push_back(status == 1.0 ? 1 : 0);
  }

  validate_network(net, where);
  build_radial_topology(net, where);
  return net;
}

Network import_matpower(const std::string& path) {
  return parse_matpower(read_text_file(path), path);
}

}  // namespace p2pgrid
