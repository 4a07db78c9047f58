import { describe, expect, it } from "vitest";
import { migrations } from "../../migrations/index.js";
import { COMPLIANCE_MIGRATION, STATUS_MIGRATION } from "../../src/commands/context.js";

describe("the readers' migration names", () => {
  it("name the registry's second and third migrations, which made the tables they read", () => {
    const names = Object.keys(migrations);
    expect(names.indexOf(STATUS_MIGRATION)).toBe(1);
    expect(names.indexOf(COMPLIANCE_MIGRATION)).toBe(2);
  });
});
