{
 "patcher": {
  "fileversion": 1,
  "appversion": {
   "major": 8,
   "minor": 5,
   "revision": 0,
   "architecture": "x64",
   "modernui": 1
  },
  "classnamespace": "box",
  "rect": [
   40.0,
   40.0,
   1260.0,
   1416.0
  ],
  "default_fontsize": 12.0,
  "gridsize": [
   15.0,
   15.0
  ],
  "description": "Antiphon: overview",
  "digest": "Antiphon: overview",
  "boxes": [
   {
    "box": {
     "id": "obj-1",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      5,
      300.0,
      22.0
     ],
     "text": "Antiphon",
     "fontsize": 24.0
    }
   },
   {
    "box": {
     "id": "obj-2",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      45,
      1200.0,
      22.0
     ],
     "text": "Antiphon is a real-time musical agent: a performer plays into a microphone, Antiphon listens and answers with a second part"
    }
   },
   {
    "box": {
     "id": "obj-3",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      67,
      1200.0,
      22.0
     ],
     "text": "(a bass under a melody, an accompaniment under a solo) assembled live from grains of a recorded corpus."
    }
   },
   {
    "box": {
     "id": "obj-4",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      89,
      1200.0,
      22.0
     ],
     "text": "The agent runs outside Max, in antiphon serve; Max drives it over OSC with the [antiphon] abstraction of this package."
    }
   },
   {
    "box": {
     "id": "obj-5",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      111,
      1200.0,
      22.0
     ],
     "text": "Start the server first, in a terminal, in the Antiphon repository: bash scripts/setup.sh (once), then .venv/bin/antiphon serve"
    }
   },
   {
    "box": {
     "id": "obj-6",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      133,
      1200.0,
      22.0
     ],
     "text": "It plays the shipped model as the agent 'answer', listens for OSC on 127.0.0.1:7400 and sends status, events and errors to 7401."
    }
   },
   {
    "box": {
     "id": "obj-7",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      155,
      1200.0,
      22.0
     ],
     "text": "Several agents: antiphon serve --agent name=bass,model=DIR,corpus=DIR,in=0,out=1 ... (addresses /antiphon/bass/...). See docs/osc.md."
    }
   },
   {
    "box": {
     "id": "obj-8",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "outlettype": [
      ""
     ],
     "patching_rect": [
      420,
      217,
      70.0,
      22.0
     ],
     "text": "pcontrol"
    }
   },
   {
    "box": {
     "id": "obj-9",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "outlettype": [
      ""
     ],
     "patching_rect": [
      10,
      187,
      160.0,
      22.0
     ],
     "text": "load antiphon.maxhelp"
    }
   },
   {
    "box": {
     "id": "obj-10",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      180,
      187,
      230.0,
      22.0
     ],
     "text": "open the help patch"
    }
   },
   {
    "box": {
     "id": "obj-11",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "outlettype": [
      ""
     ],
     "patching_rect": [
      10,
      217,
      160.0,
      22.0
     ],
     "text": "load antiphon.maxpat"
    }
   },
   {
    "box": {
     "id": "obj-12",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      180,
      217,
      230.0,
      22.0
     ],
     "text": "open the controls (the abstraction)"
    }
   },
   {
    "box": {
     "id": "obj-13",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      252,
      1200.0,
      22.0
     ],
     "text": "Reference: right-click an [antiphon] object > Open antiphon Reference. Version 0.1.0."
    }
   },
   {
    "box": {
     "id": "obj-14",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      287,
      860.0,
      22.0
     ],
     "text": "Addresses (-> to the server, <- from it; <agent> is the agent's name):"
    }
   },
   {
    "box": {
     "id": "obj-15",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      311,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/status: ask for one /antiphon/status message per agent now (they are also sent every second)"
    }
   },
   {
    "box": {
     "id": "obj-16",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      335,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/register <port>: send status, events and errors to this UDP port on the sender's host"
    }
   },
   {
    "box": {
     "id": "obj-17",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      359,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/unregister <port>: stop sending to this port on the sender's host"
    }
   },
   {
    "box": {
     "id": "obj-18",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      383,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/ping <id>: answered at once by /antiphon/pong with the same id (round-trip time)"
    }
   },
   {
    "box": {
     "id": "obj-19",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      407,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/quit: stop the audio, close the server and exit"
    }
   },
   {
    "box": {
     "id": "obj-20",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      431,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/loops/generate <bpm> <bars> <count>: generate new loops at this tempo with the loop diffusion model (serve --allow-loops, --loop-model), in a background worker that never holds up the audio; /antiphon/event/loops reports their folder (in serve --loops-dir; /input can play them)"
    }
   },
   {
    "box": {
     "id": "obj-21",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      455,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/<agent>/start: start listening and answering (a new performance: fresh decision state)"
    }
   },
   {
    "box": {
     "id": "obj-22",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      479,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/<agent>/stop: stop answering: the answer fades out over one crossfade"
    }
   },
   {
    "box": {
     "id": "obj-23",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      503,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/<agent>/model <path>: load a decision model folder; keeps the corpus if it fits, else the model's own corpus"
    }
   },
   {
    "box": {
     "id": "obj-24",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      527,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/<agent>/corpus <path>: load a corpus folder (its codebook must be the model's)"
    }
   },
   {
    "box": {
     "id": "obj-25",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      551,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/<agent>/crossfade <ms>: equal-power crossfade between grains"
    }
   },
   {
    "box": {
     "id": "obj-26",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      575,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/<agent>/gain <db>: output gain of the answer"
    }
   },
   {
    "box": {
     "id": "obj-27",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      599,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/<agent>/temperature <value>: sampling temperature of the choice (0 = always the best: greedy)"
    }
   },
   {
    "box": {
     "id": "obj-28",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      623,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/<agent>/top_p <value>: nucleus sampling: keep the best choices up to this probability mass"
    }
   },
   {
    "box": {
     "id": "obj-29",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      647,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/<agent>/taboo <grains>: a grain played within this many slots is not chosen again (unless it continues the last one)"
    }
   },
   {
    "box": {
     "id": "obj-30",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      671,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/<agent>/mute <on>: 1 silences the answer (it keeps listening and deciding), 0 brings it back"
    }
   },
   {
    "box": {
     "id": "obj-31",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      695,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/<agent>/hop <seconds>: decision rate: one decision and one grain slot per hop (0 = the model's own hop; uniform chunking only)"
    }
   },
   {
    "box": {
     "id": "obj-32",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      719,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/<agent>/input <source>: 'mic' for the live input channel, or an audio file played in a loop as the performer"
    }
   },
   {
    "box": {
     "id": "obj-33",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      743,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/<agent>/record <on>: 1 starts recording input (left) and answer (right) to a WAV in the record folder, 0 stops"
    }
   },
   {
    "box": {
     "id": "obj-34",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      767,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/<agent>/tempo <bpm>: arranger agents: play at this tempo (the beat phase still comes from the input); 0 follows the input's tempo again"
    }
   },
   {
    "box": {
     "id": "obj-35",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      791,
      1200.0,
      22.0
     ],
     "text": "-> /antiphon/<agent>/follow <on>: arranger agents: 1 follows the input's beats (tempo and phase), 0 keeps the current beat grid running on its own"
    }
   },
   {
    "box": {
     "id": "obj-36",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      815,
      1200.0,
      22.0
     ],
     "text": "<- /antiphon/status <agent> <running> <xruns> <compute_p50> <compute_p99> <fallbacks> <input_label> <answer_label> <skipped> <steps> <resyncs> <input_starved>: one per agent, every second and on request (labels are -1 before the first decision; skipped: chunks not decided because the worker was held up; resyncs: restarts after the continuation ran out; input_starved: blocks of an input file the worker did not supply in time)"
    }
   },
   {
    "box": {
     "id": "obj-37",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      839,
      1200.0,
      22.0
     ],
     "text": "<- /antiphon/event/grain <agent> <chunk> <input_label> <answer_label> <grain> <contiguous> <fallback> <compute>: a decision: the grain scheduled for the next slot"
    }
   },
   {
    "box": {
     "id": "obj-38",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      863,
      1200.0,
      22.0
     ],
     "text": "<- /antiphon/event/note <agent> <pitch> <velocity> <duration>: an arranger's note, sent when it starts to sound (the server also plays it on the agent's output channel)"
    }
   },
   {
    "box": {
     "id": "obj-39",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      887,
      1200.0,
      22.0
     ],
     "text": "<- /antiphon/event/bar <agent> <bar> <chord> <tempo> <ahead>: an arranger decided its next bar: its chord (Harte label, N for none), the tempo it is played at and how long before the bar starts it was decided"
    }
   },
   {
    "box": {
     "id": "obj-40",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      911,
      1200.0,
      22.0
     ],
     "text": "<- /antiphon/event/set <agent> <name> <value>: a playing setting the agent has applied (name as in the table)"
    }
   },
   {
    "box": {
     "id": "obj-41",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      935,
      1200.0,
      22.0
     ],
     "text": "<- /antiphon/event/state <agent> <state>: 'started' or 'stopped'"
    }
   },
   {
    "box": {
     "id": "obj-42",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      959,
      1200.0,
      22.0
     ],
     "text": "<- /antiphon/event/loaded <agent> <what> <path>: a model, corpus or input file is in use ('model', 'corpus', 'input')"
    }
   },
   {
    "box": {
     "id": "obj-43",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      983,
      1200.0,
      22.0
     ],
     "text": "<- /antiphon/event/recording <agent> <on> <path>: recording started or stopped, and its file"
    }
   },
   {
    "box": {
     "id": "obj-44",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      1007,
      1200.0,
      22.0
     ],
     "text": "<- /antiphon/event/xrun <total>: the audio stream dropped or repeated a block (total since start)"
    }
   },
   {
    "box": {
     "id": "obj-45",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      1031,
      1200.0,
      22.0
     ],
     "text": "<- /antiphon/event/skipped <agent> <total>: a chunk was not decided (several completed at once: the worker was held up); the grain's continuation played on"
    }
   },
   {
    "box": {
     "id": "obj-46",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      1055,
      1200.0,
      22.0
     ],
     "text": "<- /antiphon/event/loops <path> <count>: loops asked with /antiphon/loops/generate are written: their folder (WAV + JSON each, tempo in the names) and how many"
    }
   },
   {
    "box": {
     "id": "obj-47",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      1079,
      1200.0,
      22.0
     ],
     "text": "<- /antiphon/error <address> <reason>: a message was refused, and why; nothing was changed"
    }
   },
   {
    "box": {
     "id": "obj-48",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      1103,
      1200.0,
      22.0
     ],
     "text": "<- /antiphon/log <level> <message>: a line of the server's log: loads, refused loads, warnings (level INFO, WARNING or ERROR; INFO lines not with serve --quiet)"
    }
   },
   {
    "box": {
     "id": "obj-49",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      10,
      1127,
      1200.0,
      22.0
     ],
     "text": "<- /antiphon/pong <id>: answer to /antiphon/ping"
    }
   }
  ],
  "lines": [
   {
    "patchline": {
     "source": [
      "obj-9",
      0
     ],
     "destination": [
      "obj-8",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-11",
      0
     ],
     "destination": [
      "obj-8",
      0
     ]
    }
   }
  ]
 }
}
