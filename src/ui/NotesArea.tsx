import { useLab, useLabActions } from '../state/store.ts';

/** What the page has to say about the share link it opened and the model it named; each note can be dismissed. */
export function NotesArea() {
  const notes = useLab((s) => s.notes);
  const { dismissNote } = useLabActions();
  if (!notes.length) return null;
  return (
    <section className="notes" aria-label="Notes">
      <h2>Notes</h2>
      <ul>
        {notes.map((note) => (
          <li key={note.id} className={`note note-${note.topic}`}>
            <span>{note.text}</span>
            <button type="button" className="link-button" aria-label={`Dismiss: ${note.text}`} onClick={() => dismissNote(note.id)}>
              Dismiss
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
