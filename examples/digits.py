"""Handwritten digits with the scikit-learn estimator: nbprop.sklearn.MLPClassifier in a Pipeline.

scikit-learn's bundled 8x8 digits (1797 images, 10 classes) are split 75/25,
standardised, and classified by a 64-64-10 network (relu hidden units,
softmax output, log-loss) trained by minibatch SGD with Nesterov momentum.
Needs scikit-learn.

Run:  python examples/digits.py
"""

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, confusion_matrix
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nbprop.sklearn import MLPClassifier


def main():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    model = make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(64,), activation="relu", batch_size=32, learning_rate_init=0.1,
                      momentum=0.9, alpha=1e-4, max_iter=100, random_state=0),
    )
    started = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    clf = model[-1]
    print(f"digits: {len(X_train)} training and {len(X_test)} held-out images of {X.shape[1]} pixels")
    print(f"network: {clf.model_}")
    print(f"trained {clf.n_iter_} epochs in {seconds:.2f} s (JIT compilation included), "
          f"final training log-loss {clf.loss_:.4f}")

    predicted = model.predict(X_test)
    accuracy = accuracy_score(y_test, predicted)
    print(f"training accuracy: {model.score(X_train, y_train):.4f}")
    print(f"held-out accuracy: {accuracy:.4f}")
    print("\nconfusion matrix (rows: true digit, columns: predicted)")
    print("     " + " ".join(f"{d:3d}" for d in range(10)))
    for digit, row in enumerate(confusion_matrix(y_test, predicted)):
        print(f"  {digit}  " + " ".join(f"{n:3d}" for n in row))
    worst = np.argsort(np.diag(confusion_matrix(y_test, predicted, normalize="true")))[0]
    print(f"\nhardest digit here: {worst}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
