/** Says why a feature that reads text is off for a model without tokenizer.json. */
export function NeedsTokenizer({ name, what }: { name: string; what: string }) {
  return (
    <p className="notice" role="note">
      {what}, and <strong>{name}</strong> has no tokenizer (no <code>tokenizer.json</code>): it can only be run on token ids. Load a model with a tokenizer —
      the page's trained default, or any Hugging Face MoE model.
    </p>
  );
}
