import { render } from "preact";

import "./style.css";
import { Root } from "./app";

render(<Root />, document.getElementById("app")!);
