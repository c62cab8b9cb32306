import { useState, type DragEvent } from 'react';
import type { DroppedFile } from '../../api/engine.ts';
import { useLabActions } from '../../state/store.ts';
import { filesFromDataTransfer } from '../drop-files.ts';

/** A model folder from this computer: dropped on the zone, or chosen with a file or folder picker. */
export function LocalFiles() {
  const { loadModel } = useLabActions();
  const [over, setOver] = useState(false);
  const load = (files: DroppedFile[]) => {
    if (files.length) void loadModel({ kind: 'files', files });
  };
  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setOver(false);
    void filesFromDataTransfer(event.dataTransfer).then(load);
  };
  return (
    <div className="source">
      <h3>From this computer</h3>
      <div
        className={over ? 'drop-zone over' : 'drop-zone'}
        role="region"
        aria-label="Drop a model folder or files here"
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <p>
          Drop a Hugging Face model folder here: <code>config.json</code> and <code>*.safetensors</code> (and <code>tokenizer.json</code> if it has one).
          Nothing leaves your computer.
        </p>
        <div className="row">
          <label className="button">
            Choose model files…
            <input className="visually-hidden" type="file" multiple onChange={(e) => load([...(e.target.files ?? [])])} />
          </label>
          <label className="button">
            Choose a model folder…
            <input className="visually-hidden" type="file" {...{ webkitdirectory: '' }} onChange={(e) => load([...(e.target.files ?? [])])} />
          </label>
        </div>
      </div>
    </div>
  );
}
