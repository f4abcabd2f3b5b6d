import { describe, expect, it } from "vitest";
import { arithmeticDataset, correctItemIds, findItem, wrongAnswer } from "./dataset.js";

describe("test-server datasets", () => {
  const items = arithmeticDataset(300, 7);

  it("are deterministic and unique", () => {
    expect(arithmeticDataset(300, 7)).toStrictEqual(items);
    expect(new Set(items.map((i) => i.input)).size).toBe(300);
    expect(arithmeticDataset(300, 8)).not.toStrictEqual(items);
  });

  it.each([
    { model: "acc-90", accuracy: 0.9, want: 270 },
    { model: "acc-70", accuracy: 0.7, want: 210 },
    { model: "acc-0", accuracy: 0, want: 0 },
  ])(
    "$model answers exactly $want of 300 correctly, always the same ones",
    ({ model, accuracy, want }) => {
      const ids = correctItemIds(model, accuracy, items);
      expect(ids.size).toBe(want);
      expect(correctItemIds(model, accuracy, items)).toStrictEqual(ids);
    },
  );

  it("gives different models different correct sets", () => {
    expect(correctItemIds("a", 0.5, items)).not.toStrictEqual(correctItemIds("b", 0.5, items));
  });

  it("recognizes an item inside a rendered prompt", () => {
    const item = items[17];
    expect(findItem(items, `Solve this.\nQuestion: ${item?.input ?? ""}\nAnswer:`)).toBe(item);
    expect(findItem(items, "unrelated")).toBeUndefined();
  });

  it("answers wrong consistently", () => {
    expect(wrongAnswer("42")).toBe("43");
    expect(wrongAnswer("Paris")).toBe("not Paris");
  });
});
