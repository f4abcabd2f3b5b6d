import { describe, expect, it } from "vitest";
import { readableExcerpt } from "./errors.js";

const nginx501 = [
  "<html>\r",
  "<head><title>501 Not Implemented</title></head>\r",
  "<body>\r",
  "<center><h1>501 Not Implemented</h1></center>\r",
  "<hr><center>nginx</center>\r",
  "</body>\r",
  "</html>\r",
].join("\n");

describe("readableExcerpt", () => {
  const table: { name: string; text: string; max?: number; want: string }[] = [
    { name: "plain text stays", text: "Rate limit reached", want: "Rate limit reached" },
    { name: "empty", text: "", want: "" },
    {
      name: "an HTML error page becomes its words",
      text: nginx501,
      want: "501 Not Implemented 501 Not Implemented nginx",
    },
    {
      name: "doctype, comments, scripts and styles go",
      text: '<!DOCTYPE HTML>\n<!-- x -->\n<style>p { color: red }</style><script>var a = "<b>";</script><p>Oops</p>',
      want: "Oops",
    },
    {
      name: "entities are decoded",
      text: "<p>a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#39; &#x41;&nbsp;f</p>",
      want: "a & b <c> \"d\" 'e' A f",
    },
    { name: "unknown entities stay", text: "&bogus; &#0;", want: "&bogus; &#0;" },
    { name: "whitespace collapses to one line", text: "a\n\n\tb   c\r\n", want: "a b c" },
    { name: "cut with an ellipsis", text: "abcdefghij", max: 5, want: "abcd…" },
    { name: "exactly the limit is not cut", text: "abcde", max: 5, want: "abcde" },
    { name: "the cut does not end in a space", text: "abc defgh", max: 5, want: "abc…" },
    { name: "an unclosed tag at the end goes", text: "Bad gateway <a href=", want: "Bad gateway" },
    { name: "a surrogate pair is not cut in half", text: "abc😀def", max: 5, want: "abc…" },
    { name: "a lone < in text stays", text: "x < 3 and y > 2", want: "x < 3 and y > 2" },
  ];
  it.each(table)("$name", ({ text, max, want }) => {
    expect(readableExcerpt(text, max)).toBe(want);
  });

  it("defaults to 200 characters", () => {
    const out = readableExcerpt(`<p>${"word ".repeat(100)}</p>`);
    expect(out).toHaveLength(200);
    expect(out.endsWith("…")).toBe(true);
  });
});
